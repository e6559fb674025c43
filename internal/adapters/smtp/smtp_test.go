package smtp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/adapters/smtp/smtptest"
	"github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/notification"
)

func email(to string) notification.Email {
	return notification.Email{
		ID: id.New(), OrderID: id.New(), Kind: notification.KindConfirmed, Version: 3,
		To: notification.Buyer{Email: to, Name: "Ada Lovelace"},
		Content: notification.Content{
			Subject: "Your BookWorm order #1234ABCD is confirmed — €12.50",
			Text:    "Hello Ada,\n\n1 x Dune  €12.50\n",
			HTML:    "<p>Hello Ada,</p><table><tr><td>Dune</td><td>€12.50</td></tr></table>",
		},
	}
}

func mailer(t *testing.T, mp *smtptest.Mailpit, mut ...func(*Config)) *Mailer {
	t.Helper()
	cfg := Config{Host: mp.Host, Port: mp.Port, From: "BookWorm <orders@bookworm.test>", Timeout: 5 * time.Second}
	for _, f := range mut {
		f(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// TestSendDeliversBothParts: a real SMTP server (Mailpit) receives the
// email with its recipient, subject, both parts and the Message-ID made
// from the outbox row's id.
func TestSendDeliversBothParts(t *testing.T) {
	mp := smtptest.StartMailpit(t)
	m := mailer(t, mp)
	e := email("ada@example.com")
	if err := m.Send(ctx(t), e); err != nil {
		t.Fatal(err)
	}
	msgs := mp.WaitMessages(1, 10*time.Second)
	got := mp.Message(msgs[0].ID)
	if len(got.To) != 1 || got.To[0].Address != "ada@example.com" || got.To[0].Name != "Ada Lovelace" {
		t.Errorf("to %+v", got.To)
	}
	if got.From.Address != "orders@bookworm.test" || got.From.Name != "BookWorm" {
		t.Errorf("from %+v", got.From)
	}
	if got.Subject != e.Subject {
		t.Errorf("subject %q, want %q", got.Subject, e.Subject)
	}
	if !strings.Contains(got.Text, "1 x Dune  €12.50") || !strings.Contains(got.HTML, "<td>Dune</td><td>€12.50</td>") {
		t.Errorf("parts: text %q html %q", got.Text, got.HTML)
	}
	if got.MessageID != e.ID+"@bookworm.test" {
		t.Errorf("Message-ID %q, want %q", got.MessageID, e.ID+"@bookworm.test")
	}
	h := mp.Headers(got.ID)
	if len(h["Auto-Submitted"]) != 1 || h["Auto-Submitted"][0] != "auto-generated" {
		t.Errorf("headers %v", h)
	}
	// A second attempt of the same row carries the same Message-ID.
	if err := m.Send(ctx(t), e); err != nil {
		t.Fatal(err)
	}
	msgs = mp.WaitMessages(2, 10*time.Second)
	if msgs[0].MessageID != msgs[1].MessageID {
		t.Errorf("two attempts, Message-IDs %q and %q", msgs[0].MessageID, msgs[1].MessageID)
	}
}

// TestUnknownMailboxIsPermanent: Mailpit refuses recipients outside
// example.com with "550 5.1.0 mailbox unavailable", as a server does an
// unknown mailbox: a permanent failure, whose text does not name the
// address.
func TestUnknownMailboxIsPermanent(t *testing.T) {
	mp := smtptest.StartMailpit(t, "--smtp-allowed-recipients", `@example\.com$`)
	m := mailer(t, mp)
	err := m.Send(ctx(t), email("nobody@unknown.test"))
	if err == nil || !notification.IsPermanent(err) {
		t.Fatalf("unknown mailbox: %v, want a permanent failure", err)
	}
	if !strings.Contains(err.Error(), "550") || strings.Contains(err.Error(), "nobody@unknown.test") {
		t.Errorf("error text %q", err)
	}
	if err := m.Send(ctx(t), email("ada@example.com")); err != nil {
		t.Fatalf("allowed recipient: %v", err)
	}
	if n := len(mp.WaitMessages(1, 10*time.Second)); n != 1 {
		t.Fatalf("%d messages", n)
	}
}

// TestTemporaryFailures: a 4xx answer, and a server that is down, are
// temporary.
func TestTemporaryFailures(t *testing.T) {
	mp := smtptest.StartMailpit(t)
	m := mailer(t, mp)
	mp.Chaos(451, 100)
	err := m.Send(ctx(t), email("ada@example.com"))
	if err == nil || notification.IsPermanent(err) || !strings.Contains(err.Error(), "451") {
		t.Fatalf("451: %v, want a temporary failure", err)
	}
	mp.Chaos(451, 0)
	mp.Stop()
	err = m.Send(ctx(t), email("ada@example.com"))
	if err == nil || notification.IsPermanent(err) {
		t.Fatalf("server down: %v, want a temporary failure", err)
	}
	mp.Start()
	if err := m.Send(ctx(t), email("ada@example.com")); err != nil {
		t.Fatalf("server back: %v", err)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key into dir and
// returns their paths and a pool that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestSTARTTLSAndAuth: against a server that requires STARTTLS and
// authentication, the mailer upgrades the connection (verifying the
// server) and authenticates; a wrong password is a temporary failure
// whose text does not contain it; and without TLS the password is never
// sent (PLAIN and LOGIN are refused on a clear connection).
func TestSTARTTLSAndAuth(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	authFile := filepath.Join(t.TempDir(), "auth")
	if err := os.WriteFile(authFile, []byte("mailer:s3cret-Pa55\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mp := smtptest.StartMailpit(t, "--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile, "--smtp-require-starttls", "--smtp-auth-file", authFile)
	tlsConfig := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	good := mailer(t, mp, func(c *Config) { c.Username, c.Password, c.TLSConfig = "mailer", "s3cret-Pa55", tlsConfig })
	if err := good.Send(ctx(t), email("ada@example.com")); err != nil {
		t.Fatalf("STARTTLS and auth: %v", err)
	}
	if n := len(mp.WaitMessages(1, 10*time.Second)); n != 1 {
		t.Fatalf("%d messages", n)
	}
	bad := mailer(t, mp, func(c *Config) { c.Username, c.Password, c.TLSConfig = "mailer", "wrong-Pa55word", tlsConfig })
	err := bad.Send(ctx(t), email("ada@example.com"))
	if err == nil || notification.IsPermanent(err) || strings.Contains(err.Error(), "wrong-Pa55word") {
		t.Fatalf("wrong password: %v, want a temporary failure without the password", err)
	}
	// A certificate the mailer does not trust: refused, temporarily.
	untrusted := mailer(t, mp, func(c *Config) { c.Username, c.Password = "mailer", "s3cret-Pa55" })
	if err := untrusted.Send(ctx(t), email("ada@example.com")); err == nil || notification.IsPermanent(err) {
		t.Fatalf("untrusted certificate: %v", err)
	}

	clear := smtptest.StartMailpit(t, "--smtp-auth-file", authFile, "--smtp-auth-allow-insecure")
	plain := mailer(t, clear, func(c *Config) { c.Username, c.Password = "mailer", "s3cret-Pa55" })
	if err := plain.Send(ctx(t), email("ada@example.com")); err == nil {
		t.Fatal("the password went over a connection without TLS")
	}
	required := mailer(t, smtptest.StartMailpit(t), func(c *Config) { c.RequireTLS = true })
	if err := required.Send(ctx(t), email("ada@example.com")); err == nil {
		t.Fatal("RequireTLS sent without STARTTLS")
	}
	if n := len(clear.Messages()); n != 0 {
		t.Fatalf("%d messages over the clear connection", n)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for _, c := range []Config{
		{Port: 25, From: "a@b.test"},
		{Host: "h", Port: 70000, From: "a@b.test"},
		{Host: "h", From: "not an address"},
		{Host: "h", From: "a@b.test", Password: "x"},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
