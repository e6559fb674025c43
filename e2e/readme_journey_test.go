package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/bookworm-store/bookworm/internal/core/id"
	basketv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/basket/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/basket/v1/basketv1connect"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
	orderingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/ordering/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/ordering/v1/orderingv1connect"
)

// journeyTimeout bounds the README's journey: `go tool buf` may have to be
// built first (CI builds it for buf lint before the tests).
const journeyTimeout = 10 * time.Minute

// The README's journey: the shell block after journeyMarker, written for
// the server of "Run it" (readmeAddr, `go run ./cmd/server`).
const (
	journeyMarker = "<!-- journey:"
	readmeAddr    = "http://127.0.0.1:8080"
	readmeServer  = "go run ./cmd/server"
)

// journeyServer is a server as the README starts it (development mode:
// its own issuer, whose key lives in keyFile; the simulated gateway; the
// demo catalog), on a database of its own, with the suite's quick saga
// settings and a short 3-D Secure deadline.
type journeyServer struct {
	*server
	keyFile string
}

func startJourneyServer(t *testing.T) journeyServer {
	t.Helper()
	key := filepath.Join(t.TempDir(), "dev-signing-key.pem")
	env := append([]string{"BOOKWORM_DEV_KEY_FILE=" + key, "BOOKWORM_SEED=true", "BOOKWORM_ORDER_ACTION_TIMEOUT=2s"}, orderingEnv()...)
	s, err := startServer(context.Background(), serverBin, pg.NewDatabase(t), filepath.Join(serverTmp, "journey.log"), env...)
	if err != nil {
		if s != nil {
			s.stop()
			s.dumpLogs()
		}
		t.Fatalf("starting the journey's server: %v", err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("journey server: %v", err)
			s.dumpLogs()
		}
	})
	return journeyServer{server: s, keyFile: key}
}

// env is what the README's commands see: the server's address (dev-token
// derives the issuer from it) and its key file.
func (s journeyServer) env() []string {
	return append(environWithout("BOOKWORM_"), "BOOKWORM_ADDR="+s.addr, "BOOKWORM_DEV_KEY_FILE="+s.keyFile)
}

// token mints a development token with the server's own dev-token command.
func (s journeyServer) token(t *testing.T, sub string, roles ...string) string {
	t.Helper()
	args := []string{"dev-token", "--sub", sub}
	for _, r := range roles {
		args = append(args, "--role", r)
	}
	cmd := exec.Command(serverBin, args...)
	cmd.Env = s.env()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dev-token: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// TestREADMEJourney runs the README's journey (add to basket, place an
// order, watch it become CONFIRMED, read its history) with bash, as
// written, against a server started as the README starts it, then checks
// what the watch step printed and what the server holds; and places an
// order with every token of the README's table of the simulated gateway's
// test tokens, checking that each ends as the table says.
func TestREADMEJourney(t *testing.T) {
	t.Parallel()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	script, err := markedBlock(string(readme), journeyMarker)
	if err != nil {
		t.Fatal(err)
	}
	s := startJourneyServer(t)

	t.Run("journey", func(t *testing.T) {
		t.Parallel()
		// The README's commands, with the test server's address and binary
		// for the README's and `go run ./cmd/server` (the same program).
		for _, sub := range [][2]string{{readmeAddr, s.baseURL}, {readmeServer, serverBin}} {
			if !strings.Contains(script, sub[0]) {
				t.Fatalf("the journey no longer says %q: update this test", sub[0])
			}
			script = strings.ReplaceAll(script, sub[0], sub[1])
		}
		// set -eu: a failing command or an unset variable stops the run. The
		// last line hands the order's id to the checks below.
		script = "set -eu\n" + script + "\nprintf '\\njourney-order=%s\\n' \"$ORDER\"\n"
		ctx, cancel := context.WithTimeout(t.Context(), journeyTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", "-c", script)
		cmd.Dir = root // go tool buf
		cmd.Env = s.env()
		outBytes, err := cmd.CombinedOutput()
		out := string(outBytes)
		t.Logf("the journey printed:\n%s", out)
		if err != nil {
			t.Fatalf("the journey failed: %v", err)
		}
		m := regexp.MustCompile(`(?m)^journey-order=(\S+)$`).FindStringSubmatch(out)
		if m == nil || !id.Valid(m[1]) {
			t.Fatal("the journey printed no order id")
		}
		orderID := m[1]

		// The watch step printed the statuses it saw, in order, CONFIRMED last.
		var watched []orderingv1.OrderStatus
		for _, m := range regexp.MustCompile(`(?m)^\s+"status": *"(ORDER_STATUS_[A-Z_]+)",?$`).FindAllStringSubmatch(out, -1) {
			watched = append(watched, orderingv1.OrderStatus(orderingv1.OrderStatus_value[m[1]]))
		}
		if len(watched) == 0 || watched[len(watched)-1] != orderingv1.OrderStatus_ORDER_STATUS_CONFIRMED {
			t.Fatalf("the watch step showed %v, want the order up to CONFIRMED", watched)
		}
		for i := 1; i < len(watched); i++ {
			if watched[i] <= watched[i-1] {
				t.Fatalf("the watch step showed %v: out of order", watched)
			}
		}

		// What the server holds: the buyer's order CONFIRMED, its history,
		// one charge, and the basket emptied.
		sub := regexp.MustCompile(`dev-token --sub (\S+)`).FindStringSubmatch(script)
		if sub == nil {
			t.Fatal("the journey mints no token with dev-token --sub")
		}
		buyer := s.token(t, sub[1], "user")
		orders := newOrderingClient(t, clientOptions{Protocol: connectJSON, Token: buyer}, s.baseURL)
		o, err := getOrder(orders, orderID)
		if err != nil {
			t.Fatal(err)
		}
		if o.GetStatus() != orderingv1.OrderStatus_ORDER_STATUS_CONFIRMED || o.GetUserId() != sub[1] || len(o.GetLines()) != 1 || o.GetLines()[0].GetQuantity() != 2 {
			t.Fatalf("the journey's order: %v", o)
		}
		h, err := orders.GetOrderHistory(context.Background(), connect.NewRequest(&orderingv1.GetOrderHistoryRequest{Id: orderID}))
		if err != nil {
			t.Fatal(err)
		}
		var steps []string
		for _, e := range h.Msg.GetEntries() {
			steps = append(steps, fmt.Sprintf("%s→%s by %s", e.GetFromStatus(), e.GetToStatus(), e.GetActorKind()))
		}
		want := []string{
			"ORDER_STATUS_UNSPECIFIED→ORDER_STATUS_PENDING by ACTOR_KIND_CUSTOMER",
			"ORDER_STATUS_PENDING→ORDER_STATUS_STOCK_RESERVED by ACTOR_KIND_SYSTEM",
			"ORDER_STATUS_STOCK_RESERVED→ORDER_STATUS_CONFIRMED by ACTOR_KIND_SYSTEM",
		}
		if !slices.Equal(steps, want) {
			t.Fatalf("history %q, want %q", steps, want)
		}
		if p := payments(t, s.baseURL, orderID); p.Charges != 1 {
			t.Fatalf("simulated gateway: %+v, want one charge", p)
		}
		// The development token names the buyer's address, so the
		// notification context queues the placement's and the
		// confirmation's emails (without one it retried the events, then
		// dead-lettered them at ERROR).
		waitForLog(t, s.server, func(rec map[string]any) bool {
			return rec["msg"] == "email queued" && rec["order_id"] == orderID && rec["kind"] == "confirmed"
		})
		basket := basketv1connect.NewBasketServiceClient(http1Client(t), s.baseURL, connect.WithInterceptors(bearer(buyer)))
		deadline := time.Now().Add(settleTimeout)
		for {
			b, err := basket.GetBasket(context.Background(), connect.NewRequest(&basketv1.GetBasketRequest{}))
			if err != nil {
				t.Fatal(err)
			}
			if len(b.Msg.GetBasket().GetLines()) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the basket still holds %v after the order was confirmed", b.Msg.GetBasket().GetLines())
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("test tokens", func(t *testing.T) {
		t.Parallel()
		rows, err := tokenTable(string(readme))
		if err != nil {
			t.Fatal(err)
		}
		book := journeyBook(t, s)
		for _, row := range rows {
			t.Run(row.token, func(t *testing.T) {
				t.Parallel()
				buyer := s.token(t, "tokens-"+token(10), "user")
				basket := basketv1connect.NewBasketServiceClient(http1Client(t), s.baseURL, connect.WithInterceptors(bearer(buyer)))
				if _, err := basket.AddItem(context.Background(), connect.NewRequest(&basketv1.AddItemRequest{
					BookId: book, Quantity: 1, RequestId: id.New()})); err != nil {
					t.Fatal(err)
				}
				orders := newOrderingClient(t, clientOptions{Protocol: connectJSON, Token: buyer}, s.baseURL)
				res, err := orders.PlaceOrder(context.Background(), connect.NewRequest(&orderingv1.PlaceOrderRequest{
					RequestId: id.New(), ShippingAddress: address(), PaymentMethodToken: row.token}))
				if err != nil {
					t.Fatal(err)
				}
				seen, last := watchUntilSettled(t, orders, res.Msg.GetOrder().GetId())
				if last.GetStatus() != row.status || last.GetFailure().GetReason() != row.reason {
					t.Fatalf("%s: the order ended %s %s (through %v); the README says %s %s", row.token,
						last.GetStatus(), last.GetFailure().GetReason(), seen, row.status, row.reason)
				}
				if row.awaits {
					i := slices.IndexFunc(seen, func(o *orderingv1.Order) bool {
						return o.GetStatus() == orderingv1.OrderStatus_ORDER_STATUS_AWAITING_PAYMENT
					})
					if i < 0 || seen[i].GetPaymentAction().GetClientSecret() == "" {
						t.Fatalf("%s: the order never waited in AWAITING_PAYMENT with a client secret: %v", row.token, seen)
					}
				}
			})
		}
	})
}

// waitForLog waits until the server logs a record for which match holds.
func waitForLog(t *testing.T, s *server, match func(map[string]any) bool) {
	t.Helper()
	deadline := time.Now().Add(settleTimeout)
	for {
		b, err := os.ReadFile(s.logPath)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && match(rec) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server logged no such record in %s", settleTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// watchUntilSettled watches the order until the saga is done with it
// (CONFIRMED or final) and returns every state seen and the last.
func watchUntilSettled(t *testing.T, c orderingv1connect.OrderingServiceClient, orderID string) ([]*orderingv1.Order, *orderingv1.Order) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	st, err := c.WatchOrder(ctx, connect.NewRequest(&orderingv1.WatchOrderRequest{Id: orderID}))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var seen []*orderingv1.Order
	for st.Receive() {
		o := st.Msg().GetOrder()
		if o == nil {
			continue // a keep-alive
		}
		seen = append(seen, o)
		if terminal(o.GetStatus()) {
			return seen, o
		}
	}
	t.Fatalf("the watch of order %s ended before it settled (%v): %v", orderID, seen, st.Err())
	return nil, nil
}

// journeyBook is a demo book with stock for every order of the token
// table.
func journeyBook(t *testing.T, s journeyServer) string {
	t.Helper()
	c := catalogv1connect.NewCatalogServiceClient(http1Client(t), s.baseURL)
	res, err := c.ListBooks(context.Background(), connect.NewRequest(&catalogv1.ListBooksRequest{
		Filter: &catalogv1.BookFilter{InStockOnly: true}, PageSize: 100}))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range res.Msg.GetBooks() {
		if b.GetStockQuantity() >= 20 {
			return b.GetId()
		}
	}
	t.Fatal("no demo book has 20 copies")
	return ""
}

// markedBlock returns the body of the first fenced code block after marker
// in text.
func markedBlock(text, marker string) (string, error) {
	i := strings.Index(text, marker)
	if i < 0 {
		return "", fmt.Errorf("README.md has no %q", marker)
	}
	rest := text[i:]
	open := strings.Index(rest, "\n```")
	if open < 0 {
		return "", fmt.Errorf("no code block after %q", marker)
	}
	body := rest[open+4:]
	body = body[strings.Index(body, "\n")+1:] // past the fence's info string
	end := strings.Index(body, "\n```")
	if end < 0 {
		return "", fmt.Errorf("the code block after %q does not end", marker)
	}
	return body[:end+1], nil
}

// tokenRow is a row of the README's table of the simulated gateway's test
// tokens.
type tokenRow struct {
	token  string
	status orderingv1.OrderStatus
	reason orderingv1.FailureReason
	// awaits: the row says the order waits in AWAITING_PAYMENT on the way.
	awaits bool
}

// tokenTable reads the README's table of test tokens: the rows after the
// header "| token | the simulated gateway | the order ends |"; the last
// cell names the final status and, for a failure, the reason, in
// backquotes. The row "any other" is tried with a token of no meaning.
func tokenTable(readme string) ([]tokenRow, error) {
	const header = "| token | the simulated gateway | the order ends |"
	i := strings.Index(readme, header)
	if i < 0 {
		return nil, fmt.Errorf("README.md has no table %q", header)
	}
	var rows []tokenRow
	code := regexp.MustCompile("`([^`]+)`")
	for _, line := range strings.Split(readme[i:], "\n")[2:] {
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 3 {
			return nil, fmt.Errorf("table row %q has %d cells", line, len(cells))
		}
		var r tokenRow
		if m := code.FindStringSubmatch(cells[0]); m != nil {
			r.token = m[1]
		} else if strings.TrimSpace(cells[0]) == "any other" {
			r.token = "tok_readme_unknown"
		} else {
			return nil, fmt.Errorf("table row %q names no token", line)
		}
		ends := code.FindAllStringSubmatch(cells[2], -1)
		if len(ends) == 0 {
			return nil, fmt.Errorf("table row %q names no final status", line)
		}
		st, ok := orderingv1.OrderStatus_value["ORDER_STATUS_"+ends[0][1]]
		if !ok {
			return nil, fmt.Errorf("table row %q: unknown status %s", line, ends[0][1])
		}
		r.status = orderingv1.OrderStatus(st)
		if len(ends) > 1 {
			reason, ok := orderingv1.FailureReason_value["FAILURE_REASON_"+ends[1][1]]
			if !ok {
				return nil, fmt.Errorf("table row %q: unknown failure reason %s", line, ends[1][1])
			}
			r.reason = orderingv1.FailureReason(reason)
		}
		r.awaits = strings.Contains(cells[1], "`AWAITING_PAYMENT`")
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("the table %q has no rows", header)
	}
	return rows, nil
}
