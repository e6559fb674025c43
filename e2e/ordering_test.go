package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/bookworm-store/bookworm/internal/core/id"
	basketv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/basket/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/basket/v1/basketv1connect"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	orderingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/ordering/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/ordering/v1/orderingv1connect"
)

// orderingEnv is the checkout's settings on the suite's server: short
// gateway deadlines and a quick sweeper, so that the timeout paths finish
// in seconds (the defaults give a customer half a minute).
func orderingEnv() []string {
	return []string{
		"BOOKWORM_PAYMENT_GATEWAY_TIMEOUT=500ms",
		"BOOKWORM_ORDER_PAYMENT_BACKOFF=100ms",
		"BOOKWORM_ORDER_PAYMENT_ATTEMPTS=3",
		"BOOKWORM_ORDER_SWEEP_INTERVAL=200ms",
		"BOOKWORM_WATCH_KEEPALIVE=1s",
	}
}

// orderingProtocols are the protocols of the generated Connect client (the
// grpc-go client of the suite speaks the catalog only).
var orderingProtocols = []protocol{connectJSON, connectProto, connectGet, grpcProto, grpcWeb}

// connectOptions returns the HTTP client and options of protocol p.
func connectOptions(t *testing.T, o clientOptions) (*http.Client, []connect.ClientOption) {
	t.Helper()
	var opts []connect.ClientOption
	if o.Token != "" {
		opts = append(opts, connect.WithInterceptors(bearerStreams{bearer(o.Token), o.Token}))
	}
	httpClient := http1Client(t)
	switch o.Protocol {
	case connectJSON:
		opts = append(opts, connect.WithProtoJSON())
	case connectProto:
		httpClient = h2cClient(t)
	case connectGet:
		opts = append(opts, connect.WithHTTPGet())
	case grpcProto:
		httpClient = h2cClient(t)
		opts = append(opts, connect.WithGRPC())
	case grpcWeb:
		opts = append(opts, connect.WithGRPCWeb())
	default:
		t.Fatalf("unknown protocol %q", o.Protocol)
	}
	return httpClient, opts
}

// bearerStreams sends the token on unary calls and on streams (WatchOrder).
type bearerStreams struct {
	connect.UnaryInterceptorFunc
	token string
}

func (b bearerStreams) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set("Authorization", "Bearer "+b.token)
		return conn
	}
}

func (b bearerStreams) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

func newOrderingClient(t *testing.T, o clientOptions, base string) orderingv1connect.OrderingServiceClient {
	t.Helper()
	hc, opts := connectOptions(t, o)
	return orderingv1connect.NewOrderingServiceClient(hc, base, opts...)
}

// shopper is a user with a basket and an ordering client.
type shopper struct {
	id     string
	token  string
	orders orderingv1connect.OrderingServiceClient
	basket basketv1connect.BasketServiceClient
}

func newShopper(t *testing.T, p protocol) shopper {
	t.Helper()
	s := shopper{id: "buyer-" + token(10)}
	s.token = userToken(t, s.id)
	s.orders = newOrderingClient(t, clientOptions{Protocol: p, Token: s.token}, srv.baseURL)
	s.basket = newBasketClient(t, clientOptions{Protocol: connectProto, Token: s.token})
	return s
}

func (s shopper) add(t *testing.T, bookID string, quantity int32) {
	t.Helper()
	if _, err := s.basket.AddItem(context.Background(), connect.NewRequest(&basketv1.AddItemRequest{
		BookId: bookID, Quantity: quantity, RequestId: id.New()})); err != nil {
		t.Fatalf("AddItem: %v", err)
	}
}

func address() *orderingv1.Address {
	return &orderingv1.Address{Name: "Ada Lovelace", Lines: []string{"12 Analytical Way"}, City: "London",
		PostalCode: "N1 7GU", CountryCode: "GB"}
}

func (s shopper) place(requestID, paymentToken string) (*orderingv1.Order, error) {
	res, err := s.orders.PlaceOrder(context.Background(), connect.NewRequest(&orderingv1.PlaceOrderRequest{
		RequestId: requestID, ShippingAddress: address(), PaymentMethodToken: paymentToken}))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetOrder(), nil
}

func (s shopper) mustPlace(t *testing.T, paymentToken string) *orderingv1.Order {
	t.Helper()
	o, err := s.place(id.New(), paymentToken)
	if err != nil {
		t.Fatalf("PlaceOrder: %v", err)
	}
	return o
}

func getOrder(c orderingv1connect.OrderingServiceClient, orderID string) (*orderingv1.Order, error) {
	res, err := c.GetOrder(context.Background(), connect.NewRequest(&orderingv1.GetOrderRequest{Id: orderID}))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetOrder(), nil
}

func terminal(s orderingv1.OrderStatus) bool {
	return s == orderingv1.OrderStatus_ORDER_STATUS_CONFIRMED || s == orderingv1.OrderStatus_ORDER_STATUS_FAILED ||
		s == orderingv1.OrderStatus_ORDER_STATUS_CANCELLED || s == orderingv1.OrderStatus_ORDER_STATUS_COMPLETED
}

// settle polls the order until the saga is done with it (CONFIRMED or a
// final status) and returns it.
func settle(t *testing.T, c orderingv1connect.OrderingServiceClient, orderID string) *orderingv1.Order {
	t.Helper()
	deadline := time.Now().Add(settleTimeout)
	for {
		o, err := getOrder(c, orderID)
		if err != nil {
			t.Fatalf("GetOrder: %v", err)
		}
		if terminal(o.GetStatus()) {
			return o
		}
		if time.Now().After(deadline) {
			t.Fatalf("order %s still %s after %s", orderID, o.GetStatus(), settleTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stockedBook creates a book with stock copies priced at 19.99 EUR.
func stockedBook(t *testing.T, stock int32) *catalogv1.Book {
	t.Helper()
	f := newFixture(t, catalogClient(t, connectProto), 1)
	return f.createBook(t, func(in *catalogv1.BookInput) { in.StockQuantity = stock })
}

// simulatedPayments reads what the server's simulated gateway did for an
// order.
type simPayments struct {
	TotalCharges  int   `json:"total_charges"`
	Charges       int   `json:"charges"`
	Attempts      int   `json:"attempts"`
	RefundedMinor int64 `json:"refunded_minor"`
	Voided        bool  `json:"voided"`
}

func payments(t *testing.T, base, orderID string) simPayments {
	t.Helper()
	res, err := http.Get(base + "/debug/simulated-payments?order_id=" + orderID)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var p simPayments
	if err := json.NewDecoder(res.Body).Decode(&p); err != nil {
		t.Fatalf("simulated payments: %v", err)
	}
	return p
}

// TestOrderingRPCs runs the order's life and every rule of the RPCs over
// every protocol of the generated client.
func TestOrderingRPCs(t *testing.T) {
	t.Parallel()
	for _, p := range orderingProtocols {
		t.Run(string(p), func(t *testing.T) {
			t.Parallel()
			book := stockedBook(t, 100)
			alice, bob := newShopper(t, p), newShopper(t, p)
			admin := newOrderingClient(t, clientOptions{Protocol: p, Token: adminToken}, srv.baseURL)
			anonymous := newOrderingClient(t, clientOptions{Protocol: p}, srv.baseURL)
			ctx := context.Background()

			// An empty basket cannot be ordered.
			_, err := alice.place(id.New(), "tok_success")
			wantCode(t, err, connect.CodeFailedPrecondition)

			alice.add(t, book.GetId(), 2)
			placed := alice.mustPlace(t, "tok_success")
			if placed.GetStatus() != orderingv1.OrderStatus_ORDER_STATUS_PENDING || len(placed.GetLines()) != 1 ||
				placed.GetTotal().GetUnits() != 39 || placed.GetTotal().GetNanos() != 980_000_000 || placed.GetUserId() != alice.id {
				t.Fatalf("placed order = %v", placed)
			}
			confirmed := settle(t, alice.orders, placed.GetId())
			if confirmed.GetStatus() != orderingv1.OrderStatus_ORDER_STATUS_CONFIRMED {
				t.Fatalf("order ended %s (%v), want CONFIRMED", confirmed.GetStatus(), confirmed.GetFailure())
			}

			// Someone else's order is the same NotFound as a missing one.
			_, err = getOrder(bob.orders, placed.GetId())
			wantCode(t, err, connect.CodeNotFound)
			_, err = getOrder(bob.orders, id.New())
			wantCode(t, err, connect.CodeNotFound)
			_, err = bob.orders.CancelOrder(ctx, connect.NewRequest(&orderingv1.CancelOrderRequest{Id: placed.GetId()}))
			wantCode(t, err, connect.CodeNotFound)
			_, err = bob.orders.GetOrderHistory(ctx, connect.NewRequest(&orderingv1.GetOrderHistoryRequest{Id: placed.GetId()}))
			wantCode(t, err, connect.CodeNotFound)
			if p != connectGet {
				st, err := bob.orders.WatchOrder(ctx, connect.NewRequest(&orderingv1.WatchOrderRequest{Id: placed.GetId()}))
				if err == nil {
					for st.Receive() {
						t.Fatal("bob received alice's order")
					}
					err = st.Err()
					st.Close()
				}
				wantCode(t, err, connect.CodeNotFound)
			}
			_, err = getOrder(anonymous, placed.GetId())
			wantCode(t, err, connect.CodeUnauthenticated)

			// Lists: one's own; another user's only for admins.
			list, err := alice.orders.ListOrders(ctx, connect.NewRequest(&orderingv1.ListOrdersRequest{}))
			if err != nil || len(list.Msg.GetOrders()) != 1 || list.Msg.GetOrders()[0].GetId() != placed.GetId() {
				t.Fatalf("alice's list = %v, %v", list, err)
			}
			_, err = bob.orders.ListOrders(ctx, connect.NewRequest(&orderingv1.ListOrdersRequest{UserId: alice.id}))
			wantCode(t, err, connect.CodePermissionDenied)
			adminList, err := admin.ListOrders(ctx, connect.NewRequest(&orderingv1.ListOrdersRequest{UserId: alice.id,
				Statuses: []orderingv1.OrderStatus{orderingv1.OrderStatus_ORDER_STATUS_CONFIRMED}}))
			if err != nil || len(adminList.Msg.GetOrders()) != 1 {
				t.Fatalf("admin's list of alice's confirmed orders = %v, %v", adminList, err)
			}
			_, err = alice.orders.ListOrders(ctx, connect.NewRequest(&orderingv1.ListOrdersRequest{PageToken: "forged"}))
			wantCode(t, err, connect.CodeInvalidArgument)

			// Only admins ship and complete.
			_, err = alice.orders.ShipOrder(ctx, connect.NewRequest(&orderingv1.ShipOrderRequest{Id: placed.GetId()}))
			wantCode(t, err, connect.CodePermissionDenied)
			shipped, err := admin.ShipOrder(ctx, connect.NewRequest(&orderingv1.ShipOrderRequest{Id: placed.GetId(), TrackingNumber: "TRACK-1"}))
			if err != nil || shipped.Msg.GetOrder().GetStatus() != orderingv1.OrderStatus_ORDER_STATUS_SHIPPED {
				t.Fatalf("ShipOrder = %v, %v", shipped, err)
			}
			// Shipped orders are no longer cancelled.
			_, err = admin.CancelOrder(ctx, connect.NewRequest(&orderingv1.CancelOrderRequest{Id: placed.GetId()}))
			wantCode(t, err, connect.CodeFailedPrecondition)
			done, err := admin.CompleteOrder(ctx, connect.NewRequest(&orderingv1.CompleteOrderRequest{Id: placed.GetId()}))
			if err != nil || done.Msg.GetOrder().GetStatus() != orderingv1.OrderStatus_ORDER_STATUS_COMPLETED {
				t.Fatalf("CompleteOrder = %v, %v", done, err)
			}

			// The history is the audit trail of every transition.
			h, err := alice.orders.GetOrderHistory(ctx, connect.NewRequest(&orderingv1.GetOrderHistoryRequest{Id: placed.GetId()}))
			if err != nil {
				t.Fatal(err)
			}
			want := []orderingv1.OrderStatus{orderingv1.OrderStatus_ORDER_STATUS_PENDING, orderingv1.OrderStatus_ORDER_STATUS_STOCK_RESERVED,
				orderingv1.OrderStatus_ORDER_STATUS_CONFIRMED, orderingv1.OrderStatus_ORDER_STATUS_SHIPPED, orderingv1.OrderStatus_ORDER_STATUS_COMPLETED}
			entries := h.Msg.GetEntries()
			if len(entries) != len(want) {
				t.Fatalf("history = %v", entries)
			}
			for i, e := range entries {
				if e.GetToStatus() != want[i] || e.GetVersion() != int64(i+1) || (i > 0 && e.GetFromStatus() != want[i-1]) {
					t.Fatalf("history entry %d = %v", i, e)
				}
			}
			if entries[0].GetActorKind() != orderingv1.ActorKind_ACTOR_KIND_CUSTOMER || entries[0].GetActorId() != alice.id ||
				entries[1].GetActorKind() != orderingv1.ActorKind_ACTOR_KIND_SYSTEM || entries[3].GetActorKind() != orderingv1.ActorKind_ACTOR_KIND_ADMIN {
				t.Fatalf("history actors = %v", entries)
			}
		})
	}
}

// TestPlaceOrderValidation: every rule of PlaceOrder's request, with the
// field it names.
func TestPlaceOrderValidation(t *testing.T) {
	t.Parallel()
	book := stockedBook(t, 10)
	for _, p := range orderingProtocols {
		if p == connectGet {
			continue // PlaceOrder is no read
		}
		t.Run(string(p), func(t *testing.T) {
			t.Parallel()
			s := newShopper(t, p)
			s.add(t, book.GetId(), 1)
			cases := []struct {
				name  string
				edit  func(*orderingv1.PlaceOrderRequest)
				field string
			}{
				{"request id not a uuid", func(r *orderingv1.PlaceOrderRequest) { r.RequestId = "abc" }, "request_id"},
				{"no address", func(r *orderingv1.PlaceOrderRequest) { r.ShippingAddress = nil }, "shipping_address"},
				{"no name", func(r *orderingv1.PlaceOrderRequest) { r.ShippingAddress.Name = "" }, "shipping_address.name"},
				{"no lines", func(r *orderingv1.PlaceOrderRequest) { r.ShippingAddress.Lines = nil }, "shipping_address.lines"},
				{"no city", func(r *orderingv1.PlaceOrderRequest) { r.ShippingAddress.City = "" }, "shipping_address.city"},
				{"postal code too long", func(r *orderingv1.PlaceOrderRequest) { r.ShippingAddress.PostalCode = strings.Repeat("1", 17) }, "shipping_address.postal_code"},
				{"country not ISO", func(r *orderingv1.PlaceOrderRequest) { r.ShippingAddress.CountryCode = "XX" }, "shipping_address.country_code"},
				{"country lower case", func(r *orderingv1.PlaceOrderRequest) { r.ShippingAddress.CountryCode = "gb" }, "shipping_address.country_code"},
				{"no payment token", func(r *orderingv1.PlaceOrderRequest) { r.PaymentMethodToken = "" }, "payment_method_token"},
				{"payment token with spaces", func(r *orderingv1.PlaceOrderRequest) { r.PaymentMethodToken = "tok success" }, "payment_method_token"},
			}
			for _, tc := range cases {
				req := &orderingv1.PlaceOrderRequest{RequestId: id.New(), ShippingAddress: address(), PaymentMethodToken: "tok_success"}
				tc.edit(req)
				_, err := s.orders.PlaceOrder(context.Background(), connect.NewRequest(req))
				ce := wantCode(t, err, connect.CodeInvalidArgument)
				if !strings.Contains(ce.Error(), tc.field) {
					t.Errorf("%s: error %q does not name %s", tc.name, ce.Error(), tc.field)
				}
				if strings.Contains(ce.Error(), "tok success") {
					t.Errorf("%s: the error echoes the payment token", tc.name)
				}
			}
			// The same request id with another request is refused.
			reqID := id.New()
			if _, err := s.place(reqID, "tok_success"); err != nil {
				t.Fatal(err)
			}
			_, err := s.place(reqID, "tok_declined")
			wantCode(t, err, connect.CodeFailedPrecondition)
		})
	}
}

// TestNoOversell: 50 buyers order the last 10 copies at once. Exactly 10
// orders are confirmed and 40 fail out of stock, the stock ends at 0, and
// at every sample available + reserved + sold is the 10 copies loaded and
// none is negative.
func TestNoOversell(t *testing.T) {
	t.Parallel()
	const copies, buyers = 10, 50
	book := stockedBook(t, copies)
	shoppers := make([]shopper, buyers)
	for i := range shoppers {
		shoppers[i] = newShopper(t, connectProto)
		shoppers[i].add(t, book.GetId(), 1)
	}
	pool := serverPool(t)
	ctx, stopSampling := context.WithCancel(context.Background())
	samples := make(chan error, 1)
	var sampled int
	go func() {
		defer close(samples)
		for ctx.Err() == nil {
			var available, reserved, sold int64
			if err := pool.QueryRow(ctx, `SELECT stock, stock_reserved, stock_sold FROM catalog.books WHERE id = $1`, book.GetId()).
				Scan(&available, &reserved, &sold); err != nil {
				if ctx.Err() == nil {
					samples <- err
				}
				return
			}
			sampled++
			if available < 0 || reserved < 0 || sold < 0 || available+reserved+sold != copies {
				samples <- fmt.Errorf("sample %d: available %d, reserved %d, sold %d", sampled, available, reserved, sold)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	orders := make([]string, buyers)
	var wg sync.WaitGroup
	errs := make([]error, buyers)
	for i, s := range shoppers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := s.place(id.New(), "tok_success")
			errs[i] = err
			if err == nil {
				orders[i] = o.GetId()
			}
		}()
	}
	wg.Wait()
	confirmed, outOfStock := 0, 0
	for i, s := range shoppers {
		if errs[i] != nil {
			// Placement reads the stock the catalog shows: once earlier
			// orders have taken every copy, it refuses at once, before
			// any order exists. Also a correct end for a late buyer.
			if connect.CodeOf(errs[i]) == connect.CodeFailedPrecondition && strings.Contains(errs[i].Error(), book.GetId()) {
				outOfStock++
				continue
			}
			t.Fatalf("PlaceOrder %d: %v", i, errs[i])
		}
		o := settle(t, s.orders, orders[i])
		switch {
		case o.GetStatus() == orderingv1.OrderStatus_ORDER_STATUS_CONFIRMED:
			confirmed++
		case o.GetStatus() == orderingv1.OrderStatus_ORDER_STATUS_FAILED &&
			o.GetFailure().GetReason() == orderingv1.FailureReason_FAILURE_REASON_OUT_OF_STOCK &&
			len(o.GetFailure().GetBookIds()) == 1 && o.GetFailure().GetBookIds()[0] == book.GetId():
			outOfStock++
		default:
			t.Errorf("order %s ended %s %v", o.GetId(), o.GetStatus(), o.GetFailure())
		}
	}
	// The commits of the confirmed orders reach the catalog after the
	// confirmation: wait for every copy to be sold.
	deadline := time.Now().Add(settleTimeout)
	for {
		var available, reserved, sold int64
		if err := pool.QueryRow(context.Background(), `SELECT stock, stock_reserved, stock_sold FROM catalog.books WHERE id = $1`,
			book.GetId()).Scan(&available, &reserved, &sold); err != nil {
			t.Fatal(err)
		}
		if available == 0 && reserved == 0 && sold == copies {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stock ended available %d, reserved %d, sold %d", available, reserved, sold)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopSampling()
	for err := range samples {
		t.Fatal(err)
	}
	if confirmed != copies || outOfStock != buyers-copies {
		t.Fatalf("%d confirmed, %d out of stock; want %d and %d", confirmed, outOfStock, copies, buyers-copies)
	}
	// The catalog's book cache follows the stock by notification: a moment.
	awaitCatalogStock(t, book.GetId(), 0)
	t.Logf("%d stock samples, every one consistent", sampled)
}

// TestPlaceOrderIsIdempotent: 20 concurrent PlaceOrders with one request id
// make one order and one charge, and all get the same answer.
func TestPlaceOrderIsIdempotent(t *testing.T) {
	t.Parallel()
	book := stockedBook(t, 5)
	s := newShopper(t, connectProto)
	s.add(t, book.GetId(), 1)
	reqID := id.New()
	const n = 20
	answers := make([]*orderingv1.Order, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i], errs[i] = s.place(reqID, "tok_success")
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("PlaceOrder %d: %v", i, errs[i])
		}
		if !proto.Equal(answers[i], answers[0]) {
			t.Fatalf("answer %d differs:\n%v\n%v", i, answers[i], answers[0])
		}
	}
	o := settle(t, s.orders, answers[0].GetId())
	if o.GetStatus() != orderingv1.OrderStatus_ORDER_STATUS_CONFIRMED {
		t.Fatalf("order ended %s", o.GetStatus())
	}
	var count int
	if err := serverPool(t).QueryRow(context.Background(), `SELECT count(*) FROM ordering.orders WHERE user_id = $1`, s.id).Scan(&count); err != nil || count != 1 {
		t.Fatalf("%d orders of the buyer, %v; want 1", count, err)
	}
	if p := payments(t, srv.baseURL, o.GetId()); p.Charges != 1 {
		t.Fatalf("simulated gateway: %+v, want one charge", p)
	}
	// A retry after the fact gets the original answer again.
	again, err := s.place(reqID, "tok_success")
	if err != nil || !proto.Equal(again, answers[0]) {
		t.Fatalf("retry = %v, %v", again, err)
	}
}

// TestPaymentFailures: each refusal ends the order FAILED with its reason,
// releases the stock and charges nothing; a gateway that never answers is
// retried, then the order fails and the payment is voided.
func TestPaymentFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		token  string
		reason orderingv1.FailureReason
	}{
		{"tok_declined", orderingv1.FailureReason_FAILURE_REASON_PAYMENT_DECLINED},
		{"tok_insufficient_funds", orderingv1.FailureReason_FAILURE_REASON_INSUFFICIENT_FUNDS},
		{"tok_timeout", orderingv1.FailureReason_FAILURE_REASON_PAYMENT_TIMEOUT},
		{"tok_unknown_card", orderingv1.FailureReason_FAILURE_REASON_PAYMENT_ERROR},
	} {
		t.Run(tc.token, func(t *testing.T) {
			t.Parallel()
			book := stockedBook(t, 3)
			s := newShopper(t, connectProto)
			s.add(t, book.GetId(), 2)
			o := settle(t, s.orders, s.mustPlace(t, tc.token).GetId())
			if o.GetStatus() != orderingv1.OrderStatus_ORDER_STATUS_FAILED || o.GetFailure().GetReason() != tc.reason {
				t.Fatalf("order ended %s %v, want FAILED %s", o.GetStatus(), o.GetFailure(), tc.reason)
			}
			if strings.Contains(o.GetFailure().GetDetail(), tc.token) {
				t.Fatalf("the failure detail shows the token: %q", o.GetFailure().GetDetail())
			}
			stockBack(t, book.GetId(), 3)
			p := payments(t, srv.baseURL, o.GetId())
			if tc.token == "tok_timeout" {
				if p.Attempts < 2 || !p.Voided {
					t.Fatalf("timeout: %+v, want retries and a void", p)
				}
			}
		})
	}
	t.Run("tok_flaky", func(t *testing.T) {
		t.Parallel()
		book := stockedBook(t, 3)
		s := newShopper(t, connectProto)
		s.add(t, book.GetId(), 1)
		o := settle(t, s.orders, s.mustPlace(t, "tok_flaky").GetId())
		if o.GetStatus() != orderingv1.OrderStatus_ORDER_STATUS_CONFIRMED {
			t.Fatalf("flaky gateway: order ended %s %v", o.GetStatus(), o.GetFailure())
		}
		if p := payments(t, srv.baseURL, o.GetId()); p.Charges != 1 || p.Attempts < 2 {
			t.Fatalf("flaky gateway: %+v, want one charge after a retry", p)
		}
	})
}

// stockBack waits until all of a book's copies are available again.
func stockBack(t *testing.T, bookID string, want int32) {
	t.Helper()
	c := catalogClient(t, connectProto)
	deadline := time.Now().Add(settleTimeout)
	for {
		if got := getBook(t, c, bookID).GetStockQuantity(); got == want {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("book %s has %d copies available, want %d back", bookID, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCancelAfterConfirmationRefunds: the buyer cancels a confirmed order;
// the gateway refunds it in full and the copies come back.
func TestCancelAfterConfirmationRefunds(t *testing.T) {
	t.Parallel()
	book := stockedBook(t, 4)
	s := newShopper(t, connectProto)
	s.add(t, book.GetId(), 2)
	o := settle(t, s.orders, s.mustPlace(t, "tok_success").GetId())
	if o.GetStatus() != orderingv1.OrderStatus_ORDER_STATUS_CONFIRMED {
		t.Fatalf("order ended %s", o.GetStatus())
	}
	res, err := s.orders.CancelOrder(context.Background(), connect.NewRequest(&orderingv1.CancelOrderRequest{Id: o.GetId(), Reason: "changed my mind"}))
	if err != nil || res.Msg.GetOrder().GetStatus() != orderingv1.OrderStatus_ORDER_STATUS_CANCELLED {
		t.Fatalf("CancelOrder = %v, %v", res, err)
	}
	deadline := time.Now().Add(settleTimeout)
	for p := payments(t, srv.baseURL, o.GetId()); p.RefundedMinor != 3998; p = payments(t, srv.baseURL, o.GetId()) {
		if time.Now().After(deadline) {
			t.Fatalf("refund not seen by the gateway: %+v", p)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stockBack(t, book.GetId(), 4)
	// Cancelling again changes nothing.
	if _, err := s.orders.CancelOrder(context.Background(), connect.NewRequest(&orderingv1.CancelOrderRequest{Id: o.GetId()})); err != nil {
		t.Fatal(err)
	}
}

// TestWatchOrderAcrossReplicas: a watcher on replica B (another process on
// the same database and broker) sees every transition of an order placed
// and moved through replica A, in order, with keep-alives, until the order
// is final.
//
// Not parallel: replica B consumes the ordering queue too, and the cases
// that count the suite server's simulated charges must not share it.
func TestWatchOrderAcrossReplicas(t *testing.T) {
	b := startExtraServer(t, "replica-b", append(append(issuerEnv(), "BOOKWORM_RATE_LIMIT=false"), orderingEnv()...)...)
	book := stockedBook(t, 2)
	s := newShopper(t, connectProto)
	s.add(t, book.GetId(), 1)
	placed := s.mustPlace(t, "tok_success")
	admin := newOrderingClient(t, clientOptions{Protocol: connectProto, Token: adminToken}, srv.baseURL)
	for _, p := range []protocol{connectJSON, grpcProto} {
		t.Run(string(p), func(t *testing.T) {
			watcher := newOrderingClient(t, clientOptions{Protocol: p, Token: s.token}, b.baseURL)
			ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
			defer cancel()
			st, err := watcher.WatchOrder(ctx, connect.NewRequest(&orderingv1.WatchOrderRequest{Id: placed.GetId()}))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			var versions []int64
			var statuses []orderingv1.OrderStatus
			keepAlives := 0
			moved := false
			for st.Receive() {
				m := st.Msg()
				if m.GetKeepAlive() != nil {
					keepAlives++
					continue
				}
				o := m.GetOrder()
				if len(versions) > 0 && o.GetVersion() <= versions[len(versions)-1] {
					t.Fatalf("versions out of order: %v then %d", versions, o.GetVersion())
				}
				versions, statuses = append(versions, o.GetVersion()), append(statuses, o.GetStatus())
				// A moves the order one step each time B has shown the last
				// one, so every transition is there to be seen (a watcher that
				// falls behind gets the newest state, not each one between).
				switch o.GetStatus() {
				case orderingv1.OrderStatus_ORDER_STATUS_CONFIRMED:
					if moved {
						break
					}
					moved = true
					// Quiet for a while (keep-alives), then A ships.
					time.Sleep(1500 * time.Millisecond)
					if _, err := admin.ShipOrder(context.Background(), connect.NewRequest(&orderingv1.ShipOrderRequest{Id: o.GetId()})); err != nil && p == connectJSON {
						t.Fatal(err)
					}
				case orderingv1.OrderStatus_ORDER_STATUS_SHIPPED:
					if _, err := admin.CompleteOrder(context.Background(), connect.NewRequest(&orderingv1.CompleteOrderRequest{Id: o.GetId()})); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := st.Err(); err != nil {
				t.Fatalf("stream: %v", err)
			}
			last := statuses[len(statuses)-1]
			if last != orderingv1.OrderStatus_ORDER_STATUS_COMPLETED {
				t.Fatalf("watch ended at %v (versions %v)", statuses, versions)
			}
			if p == connectJSON && (keepAlives == 0 || !containsStatus(statuses, orderingv1.OrderStatus_ORDER_STATUS_SHIPPED)) {
				t.Fatalf("watch saw %v with %d keep-alives; want SHIPPED on the way and keep-alives", statuses, keepAlives)
			}
		})
	}
}

func containsStatus(ss []orderingv1.OrderStatus, s orderingv1.OrderStatus) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestNoPaymentTokenInLogs: no payment token reaches the server's log: of
// a refused payment, of an invalid token, and of the checkouts of the
// tests that ran before it.
func TestNoPaymentTokenInLogs(t *testing.T) {
	book := stockedBook(t, 5)
	s := newShopper(t, connectProto)
	s.add(t, book.GetId(), 1)
	const secret = "tok_declined"
	o := settle(t, s.orders, s.mustPlace(t, secret).GetId())
	if o.GetStatus() != orderingv1.OrderStatus_ORDER_STATUS_FAILED {
		t.Fatalf("order ended %s", o.GetStatus())
	}
	// An invalid token is refused; its text must not be echoed nor logged.
	_, err := s.place(id.New(), "tok_bogus\x01secret")
	wantCode(t, err, connect.CodeInvalidArgument)
	logs, err := os.ReadFile(srv.logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"tok_success", "tok_declined", "tok_timeout", "tok_insufficient_funds", "tok_flaky", "tok_3ds", "tok_unknown_card", "tok_bogus"} {
		if strings.Contains(string(logs), tok) {
			i := strings.Index(string(logs), tok)
			t.Errorf("the server log contains the payment token %q: %s", tok, string(logs)[max(0, i-200):min(len(logs), i+100)])
		}
	}
}
