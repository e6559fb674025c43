// Command orders is the checkout load benchmark: workers place orders
// through a running server (basket AddItem, PlaceOrder with the simulated
// gateway's success token, then WatchOrder until CONFIRMED) for a fixed
// time, and it prints orders per second and the place → CONFIRMED latency
// percentiles. bench/orders.sh runs it against a fresh server.
//
//	go run ./bench/orders --url http://127.0.0.1:18080 --bin ./bookworm --books ids.txt --duration 60s
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	bwauth "github.com/bookworm-store/bookworm/internal/adapters/auth"

	"github.com/bookworm-store/bookworm/internal/core/id"
	basketv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/basket/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/basket/v1/basketv1connect"
	orderingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/ordering/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/ordering/v1/orderingv1connect"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "orders:", err)
		os.Exit(1)
	}
}

type buyer struct {
	token  string
	basket basketv1connect.BasketServiceClient
	orders orderingv1connect.OrderingServiceClient
}

// auth sets the bearer token on unary calls and streams.
type auth struct{ token string }

func (a auth) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, r connect.AnyRequest) (connect.AnyResponse, error) {
		r.Header().Set("Authorization", "Bearer "+a.token)
		return next(ctx, r)
	}
}

func (a auth) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, s connect.Spec) connect.StreamingClientConn {
		c := next(ctx, s)
		c.RequestHeader().Set("Authorization", "Bearer "+a.token)
		return c
	}
}

func (a auth) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

func run() error {
	url := flag.String("url", "http://127.0.0.1:18080", "server base URL")
	bin := flag.String("bin", "./bookworm", "server binary, for dev-token")
	keyFile := flag.String("dev-key-file", os.Getenv("BOOKWORM_DEV_KEY_FILE"), "the development issuer's key file (the server's)")
	booksFile := flag.String("books", "", "file of book ids, one a line (stocked well beyond the run)")
	duration := flag.Duration("duration", 60*time.Second, "how long to place orders")
	workers := flag.Int("workers", 48, "concurrent buyers placing orders")
	users := flag.Int("users", 400, "distinct buyers (each worker takes turns among its share)")
	flag.Parse()
	if *booksFile == "" || *users < *workers {
		return errors.New("--books is required and --users must be at least --workers")
	}
	books, err := readLines(*booksFile)
	if err != nil {
		return err
	}
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	h2c := &http.Client{Transport: &http.Transport{Protocols: &protocols, MaxIdleConnsPerHost: 64}}
	mint, err := newMinter(*bin, *keyFile)
	if err != nil {
		return err
	}
	buyers := make([]*buyer, *users)
	for i := range buyers {
		sub := fmt.Sprintf("bench-buyer-%d", i)
		tok, err := mint(sub, "Bench Buyer "+strconv.Itoa(i), sub+"@bench.example")
		if err != nil {
			return err
		}
		opt := connect.WithInterceptors(auth{tok})
		buyers[i] = &buyer{basket: basketv1connect.NewBasketServiceClient(h2c, *url, opt),
			orders: orderingv1connect.NewOrderingServiceClient(h2c, *url, opt)}
	}

	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	var (
		mu        sync.Mutex
		latencies []time.Duration
		failed    atomic.Int64
		firstErr  atomic.Value
	)
	start := time.Now()
	for w := range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for turn := 0; ctx.Err() == nil; turn++ {
				// The worker's buyers take turns, so a buyer's basket was
				// cleared (OrderConfirmed) before it orders again.
				b := buyers[w+(turn%(*users / *workers))*(*workers)]
				d, err := order(ctx, b, books)
				switch {
				case ctx.Err() != nil:
					return
				case err != nil:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				default:
					mu.Lock()
					latencies = append(latencies, d)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(float64(len(latencies))*p))]
	}
	fmt.Printf("orders confirmed: %d in %s: %.1f orders/s; failed or unfinished: %d\n",
		len(latencies), elapsed.Round(time.Millisecond), float64(len(latencies))/elapsed.Seconds(), failed.Load())
	fmt.Printf("place -> CONFIRMED: p50 %s, p95 %s, p99 %s, max %s\n",
		pct(0.50).Round(100*time.Microsecond), pct(0.95).Round(100*time.Microsecond), pct(0.99).Round(100*time.Microsecond), pct(1).Round(100*time.Microsecond))
	if e := firstErr.Load(); e != nil {
		fmt.Printf("first error: %s\n", e)
	}
	return nil
}

// order adds a random book to b's basket, places the order and watches it
// until it is CONFIRMED; it returns the time from the PlaceOrder call to
// the CONFIRMED message.
func order(ctx context.Context, b *buyer, books []string) (time.Duration, error) {
	n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(books))))
	if _, err := b.basket.AddItem(ctx, connect.NewRequest(&basketv1.AddItemRequest{BookId: books[n.Int64()], Quantity: 1, RequestId: id.New()})); err != nil {
		return 0, fmt.Errorf("AddItem: %w", err)
	}
	t0 := time.Now()
	placed, err := b.orders.PlaceOrder(ctx, connect.NewRequest(&orderingv1.PlaceOrderRequest{RequestId: id.New(),
		ShippingAddress: &orderingv1.Address{Name: "Bench Buyer", Lines: []string{"1 Load Street"}, City: "Berlin",
			PostalCode: "10115", CountryCode: "DE"}, PaymentMethodToken: "tok_success"}))
	if err != nil {
		return 0, fmt.Errorf("PlaceOrder: %w", err)
	}
	st, err := b.orders.WatchOrder(ctx, connect.NewRequest(&orderingv1.WatchOrderRequest{Id: placed.Msg.GetOrder().GetId()}))
	if err != nil {
		return 0, fmt.Errorf("WatchOrder: %w", err)
	}
	defer st.Close()
	for st.Receive() {
		switch s := st.Msg().GetOrder().GetStatus(); s {
		case orderingv1.OrderStatus_ORDER_STATUS_CONFIRMED:
			return time.Since(t0), nil
		case orderingv1.OrderStatus_ORDER_STATUS_FAILED, orderingv1.OrderStatus_ORDER_STATUS_CANCELLED:
			return 0, fmt.Errorf("order %s ended %s %v", placed.Msg.GetOrder().GetId(), s, st.Msg().GetOrder().GetFailure())
		}
	}
	if err := st.Err(); err != nil {
		return 0, fmt.Errorf("WatchOrder: %w", err)
	}
	return 0, errors.New("WatchOrder ended before CONFIRMED")
}

// newMinter returns a function that makes the buyers' bearer tokens: the
// development issuer's (one dev-token call gives the issuer, audience and
// key id), each with the buyer's name and email, as a real identity
// provider's tokens carry them (the notification context needs the email;
// dev-token sets none).
func newMinter(bin, keyFile string) (func(sub, name, email string) (string, error), error) {
	out, err := exec.Command(bin, "dev-token", "--sub", "bench-template", "--role", "user", "--ttl", "2h").Output()
	if err != nil {
		return nil, fmt.Errorf("dev-token: %w", err)
	}
	tmpl, err := jwt.ParseSigned(strings.TrimSpace(string(out)), []jose.SignatureAlgorithm{jose.ES256})
	if err != nil || len(tmpl.Headers) != 1 {
		return nil, fmt.Errorf("dev-token: not a signed JWT: %v", err)
	}
	var claims map[string]any
	if err := tmpl.UnsafeClaimsWithoutVerification(&claims); err != nil {
		return nil, fmt.Errorf("dev-token: %w", err)
	}
	key, err := bwauth.LoadOrCreateDevKey(keyFile)
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), tmpl.Headers[0].KeyID))
	if err != nil {
		return nil, err
	}
	return func(sub, name, email string) (string, error) {
		c := maps.Clone(claims)
		c["sub"], c["name"], c["preferred_username"], c["email"] = sub, name, sub, email
		return jwt.Signed(signer).Claims(c).Serialize()
	}, nil
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no book ids", path)
	}
	return out, sc.Err()
}
