package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/bookworm-store/bookworm/sdk/go/bookworm"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
)

// selfSignedCert writes a certificate for 127.0.0.1 and its key to dir and
// returns their paths and a pool trusting the certificate.
func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "bookworm e2e"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestTLS starts a server with a certificate: it speaks TLS 1.3 only, offers
// HTTP/2 by ALPN (so gRPC works without h2c), and refuses TLS 1.2 and
// plaintext.
func TestTLS(t *testing.T) {
	certFile, keyFile, pool := selfSignedCert(t, t.TempDir())
	s := startExtraServer(t, "tls", "BOOKWORM_TLS_CERT="+certFile, "BOOKWORM_TLS_KEY="+keyFile)
	if !strings.HasPrefix(s.baseURL, "https://") {
		t.Fatalf("base URL %s", s.baseURL)
	}
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: true,
	}}

	t.Run("TLS 1.3 and HTTP/2 by ALPN", func(t *testing.T) {
		res, err := client.Get(s.baseURL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.TLS == nil || res.TLS.Version != tls.VersionTLS13 {
			t.Fatalf("TLS state %+v, want TLS 1.3", res.TLS)
		}
		if res.ProtoMajor != 2 || res.TLS.NegotiatedProtocol != "h2" {
			t.Fatalf("protocol %s (ALPN %q), want HTTP/2", res.Proto, res.TLS.NegotiatedProtocol)
		}
	})

	t.Run("gRPC over TLS", func(t *testing.T) {
		c := bookworm.NewCatalogClient(s.baseURL, bookworm.WithProtocol(bookworm.GRPC), bookworm.WithHTTPClient(client))
		_, err := c.ListBooks(t.Context(), connect.NewRequest(&catalogv1.ListBooksRequest{PageSize: 1}))
		if err != nil {
			t.Fatalf("ListBooks over gRPC with TLS: %v", err)
		}
	})

	t.Run("TLS 1.2 is refused", func(t *testing.T) {
		old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS12}}}
		res, err := old.Get(s.baseURL + "/healthz")
		if err == nil {
			res.Body.Close()
			t.Fatal("a TLS 1.2 client was served")
		}
	})

	t.Run("plaintext is refused", func(t *testing.T) {
		res, err := http.Get("http://" + s.addr + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				t.Fatal("plaintext request was served")
			}
		}
	})
}
