package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/proto"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres/outbox"
	basketv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/basket/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/basket/v1/basketv1connect"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
	orderingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/ordering/v1"
)

// basketProtocols are the protocols the basket cases run through: Connect
// (JSON, binary, GET for GetBasket), gRPC and gRPC-Web.
var basketProtocols = []protocol{connectJSON, connectProto, connectGet, grpcProto, grpcWeb}

// newBasketClient is the one place clients of the basket service are
// built.
func newBasketClient(t *testing.T, o clientOptions) basketv1connect.BasketServiceClient {
	t.Helper()
	httpClient, opts := connectOptions(t, o)
	return basketv1connect.NewBasketServiceClient(httpClient, srv.baseURL, opts...)
}

// shoppers are the clients of one basket case: two customers, the admin
// and an anonymous visitor, the customers with identities of their own so
// that cases never share baskets.
type shoppers struct {
	alice, bob, admin, anonymous basketv1connect.BasketServiceClient
	aliceID, bobID               string
	// catalog is the admin's catalog client, to make and change books.
	catalog *fixture
}

func newShoppers(t *testing.T, p protocol) shoppers {
	t.Helper()
	s := shoppers{aliceID: "alice-" + token(8), bobID: "bob-" + token(8)}
	s.alice = newBasketClient(t, clientOptions{Protocol: p, Token: userToken(t, s.aliceID)})
	s.bob = newBasketClient(t, clientOptions{Protocol: p, Token: userToken(t, s.bobID)})
	s.admin = newBasketClient(t, clientOptions{Protocol: p, Token: adminToken})
	s.anonymous = newBasketClient(t, clientOptions{Protocol: p})
	s.catalog = newFixture(t, catalogClient(t, connectProto), 1)
	return s
}

// book creates a book of price cents in EUR (stock 5), changed by edits.
func (s shoppers) book(t *testing.T, cents int64, edits ...func(*catalogv1.BookInput)) *catalogv1.Book {
	t.Helper()
	return s.catalog.createBook(t, append([]func(*catalogv1.BookInput){func(in *catalogv1.BookInput) { in.Price = eur(cents) }}, edits...)...)
}

func addItem(c basketv1connect.BasketServiceClient, bookID string, qty int32, requestID string) (*basketv1.Basket, error) {
	res, err := c.AddItem(context.Background(), connect.NewRequest(&basketv1.AddItemRequest{BookId: bookID, Quantity: qty, RequestId: requestID}))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetBasket(), nil
}

func mustAdd(t *testing.T, c basketv1connect.BasketServiceClient, bookID string, qty int32) *basketv1.Basket {
	t.Helper()
	b, err := addItem(c, bookID, qty, newID())
	if err != nil {
		t.Fatalf("AddItem(%s, %d): %v", bookID, qty, err)
	}
	return b
}

func getBasket(t *testing.T, c basketv1connect.BasketServiceClient) *basketv1.Basket {
	t.Helper()
	res, err := c.GetBasket(context.Background(), connect.NewRequest(&basketv1.GetBasketRequest{}))
	if err != nil {
		t.Fatalf("GetBasket: %v", err)
	}
	return res.Msg.GetBasket()
}

func setQuantity(c basketv1connect.BasketServiceClient, bookID string, qty int32) (*basketv1.Basket, error) {
	res, err := c.UpdateItemQuantity(context.Background(), connect.NewRequest(&basketv1.UpdateItemQuantityRequest{BookId: bookID, Quantity: qty}))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetBasket(), nil
}

func removeItem(c basketv1connect.BasketServiceClient, bookID string) (*basketv1.Basket, error) {
	res, err := c.RemoveItem(context.Background(), connect.NewRequest(&basketv1.RemoveItemRequest{BookId: bookID}))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetBasket(), nil
}

func clearBasket(c basketv1connect.BasketServiceClient) (*basketv1.Basket, error) {
	res, err := c.ClearBasket(context.Background(), connect.NewRequest(&basketv1.ClearBasketRequest{}))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetBasket(), nil
}

// lineOf returns the basket's line of bookID, or nil.
func lineOf(b *basketv1.Basket, bookID string) *basketv1.BasketLine {
	for _, l := range b.GetLines() {
		if l.GetBookId() == bookID {
			return l
		}
	}
	return nil
}

// wantTotal fails unless the basket's total is cents in EUR.
func wantTotal(t *testing.T, b *basketv1.Basket, cents_ int64) {
	t.Helper()
	if b.GetTotal().GetCurrencyCode() != "EUR" || cents(b.GetTotal()) != cents_ {
		t.Fatalf("total %v, want %d EUR cents (basket %v)", b.GetTotal(), cents_, b)
	}
}

// wantReason fails unless err is FailedPrecondition with a
// google.rpc.ErrorInfo of reason about bookID.
func wantReason(t *testing.T, err error, reason, bookID string) {
	t.Helper()
	ce := wantCode(t, err, connect.CodeFailedPrecondition)
	for _, d := range ce.Details() {
		if v, err := d.Value(); err == nil {
			if info, ok := v.(*errdetails.ErrorInfo); ok {
				if info.GetReason() != reason || info.GetMetadata()["book_id"] != bookID || !strings.Contains(ce.Message(), bookID) {
					t.Fatalf("ErrorInfo %v, message %q; want %s about %s", info, ce.Message(), reason, bookID)
				}
				return
			}
		}
	}
	t.Fatalf("FailedPrecondition %q carries no ErrorInfo (details %v)", ce.Message(), detailTypes(ce))
}

// TestBasket runs the basket cases through every protocol.
func TestBasket(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, s shoppers)
	}{
		{"lifecycle", testBasketLifecycle},
		{"validation", testBasketValidation},
		{"catalog rules", testBasketCatalogRules},
		{"prices follow the catalog", testBasketPrices},
		{"retries", testBasketRetries},
		{"ownership", testBasketOwnership},
	}
	for _, p := range basketProtocols {
		t.Run(string(p), func(t *testing.T) {
			t.Parallel()
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, newShoppers(t, p)) })
			}
		})
	}
}

func testBasketLifecycle(t *testing.T, s shoppers) {
	empty := getBasket(t, s.alice)
	if len(empty.GetLines()) != 0 || empty.GetTotal() != nil || empty.GetItemCount() != 0 || empty.GetUpdateTime() != nil {
		t.Fatalf("a new customer's basket: %v", empty)
	}
	a, b := s.book(t, 1999), s.book(t, 250)
	start := time.Now().Add(-time.Minute)
	got := mustAdd(t, s.alice, a.GetId(), 2)
	got = mustAdd(t, s.alice, b.GetId(), 3)
	wantTotal(t, got, 2*1999+3*250)
	if got.GetItemCount() != 5 || len(got.GetLines()) != 2 || got.GetLines()[0].GetBookId() != a.GetId() ||
		got.GetEtag() != "2" || !got.GetUpdateTime().AsTime().After(start) {
		t.Fatalf("after two additions: %v", got)
	}
	la := got.GetLines()[0]
	if la.GetTitle() != a.GetTitle() || la.GetQuantity() != 2 || cents(la.GetUnitPrice()) != 1999 ||
		cents(la.GetLineTotal()) != 3998 || !la.GetAvailable() || la.GetAddTime().AsTime().Before(start) {
		t.Fatalf("line %v", la)
	}
	// The same book again adds to its line.
	got = mustAdd(t, s.alice, a.GetId(), 1)
	if lineOf(got, a.GetId()).GetQuantity() != 3 || len(got.GetLines()) != 2 {
		t.Fatalf("after adding the book again: %v", got)
	}
	if read := getBasket(t, s.alice); !proto.Equal(read, got) {
		t.Fatalf("GetBasket %v\nafter AddItem returned %v", read, got)
	}

	got, err := setQuantity(s.alice, b.GetId(), 7)
	if err != nil {
		t.Fatal(err)
	}
	wantTotal(t, got, 3*1999+7*250)
	// Setting the quantity a line has changes nothing (a retry).
	again, err := setQuantity(s.alice, b.GetId(), 7)
	if err != nil || again.GetEtag() != got.GetEtag() {
		t.Fatalf("the same quantity again: %v, %v", again, err)
	}

	got, err = removeItem(s.alice, a.GetId())
	if err != nil {
		t.Fatal(err)
	}
	wantTotal(t, got, 7*250)
	again, err = removeItem(s.alice, a.GetId())
	if err != nil || !proto.Equal(again, got) {
		t.Fatalf("removing a line that is gone: %v, %v; want the same basket", again, err)
	}

	cleared, err := clearBasket(s.alice)
	if err != nil {
		t.Fatal(err)
	}
	if len(cleared.GetLines()) != 0 || cleared.GetTotal() != nil || cleared.GetItemCount() != 0 {
		t.Fatalf("cleared: %v", cleared)
	}
	again, err = clearBasket(s.alice)
	if err != nil || !proto.Equal(again, cleared) {
		t.Fatalf("clearing again: %v, %v; want the same basket", again, err)
	}
}

func testBasketValidation(t *testing.T, s shoppers) {
	a := s.book(t, 1000)
	_, err := addItem(s.alice, "not-a-uuid", 1, newID())
	wantInvalid(t, err, "book_id")
	_, err = addItem(s.alice, a.GetId(), 0, newID())
	wantInvalid(t, err, "quantity")
	_, err = addItem(s.alice, a.GetId(), 100, newID())
	wantInvalid(t, err, "quantity")
	_, err = addItem(s.alice, a.GetId(), -1, newID())
	wantInvalid(t, err, "quantity")
	_, err = addItem(s.alice, a.GetId(), 1, "")
	wantInvalid(t, err, "request_id")
	_, err = addItem(s.alice, a.GetId(), 1, "again")
	wantInvalid(t, err, "request_id")
	_, err = addItem(s.alice, "x", 0, "y")
	wantInvalid(t, err, "book_id", "quantity", "request_id")

	// A line holds at most 99 copies, whichever way it gets there.
	mustAdd(t, s.alice, a.GetId(), 60)
	_, err = addItem(s.alice, a.GetId(), 40, newID())
	wantInvalid(t, err, "quantity")
	got := mustAdd(t, s.alice, a.GetId(), 39)
	if lineOf(got, a.GetId()).GetQuantity() != 99 {
		t.Fatalf("60 + 39 copies: %v", got)
	}
	_, err = setQuantity(s.alice, a.GetId(), 100)
	wantInvalid(t, err, "quantity")
	_, err = setQuantity(s.alice, a.GetId(), 0)
	wantInvalid(t, err, "quantity")
	_, err = setQuantity(s.alice, "nope", 2)
	wantInvalid(t, err, "book_id")
	_, err = removeItem(s.alice, "nope")
	wantInvalid(t, err, "book_id")
	// A book without a line cannot get a quantity.
	_, err = setQuantity(s.alice, newID(), 2)
	wantCode(t, err, connect.CodeNotFound)
	if got := getBasket(t, s.alice); len(got.GetLines()) != 1 || got.GetItemCount() != 99 {
		t.Fatalf("refused calls changed the basket: %v", got)
	}
}

func testBasketCatalogRules(t *testing.T, s shoppers) {
	// An unknown book is NotFound.
	_, err := addItem(s.alice, newID(), 1, newID())
	wantCode(t, err, connect.CodeNotFound)

	// A deleted book and a book out of stock are FailedPrecondition with
	// the reason.
	gone := s.book(t, 1000)
	if _, err := s.catalog.c.DeleteBook(t.Context(), connect.NewRequest(&catalogv1.DeleteBookRequest{Id: gone.GetId()})); err != nil {
		t.Fatal(err)
	}
	_, err = addItem(s.alice, gone.GetId(), 1, newID())
	wantReason(t, err, "BOOK_DELETED", gone.GetId())
	out := s.book(t, 1000, func(in *catalogv1.BookInput) { in.StockQuantity = 0 })
	_, err = addItem(s.alice, out.GetId(), 1, newID())
	wantReason(t, err, "BOOK_OUT_OF_STOCK", out.GetId())

	// One currency per basket: a book in USD does not join a basket in EUR,
	// but starts an empty one.
	usd := s.book(t, 0, func(in *catalogv1.BookInput) { in.Price = money("USD", 1500) })
	mustAdd(t, s.alice, s.book(t, 800).GetId(), 1)
	_, err = addItem(s.alice, usd.GetId(), 1, newID())
	wantReason(t, err, "CURRENCY_MISMATCH", usd.GetId())
	got := mustAdd(t, s.bob, usd.GetId(), 2)
	if got.GetTotal().GetCurrencyCode() != "USD" || cents(got.GetTotal()) != 3000 {
		t.Fatalf("a USD book in an empty basket: %v", got)
	}
	if got := getBasket(t, s.alice); len(got.GetLines()) != 1 {
		t.Fatalf("refused additions changed the basket: %v", got)
	}
}

// testBasketPrices: a basket shows the catalog's current title and
// effective price at once, and a line the catalog no longer sells stays
// visible but counts in no total.
func testBasketPrices(t *testing.T, s shoppers) {
	a, b := s.book(t, 1000), s.book(t, 500)
	mustAdd(t, s.alice, a.GetId(), 2)
	mustAdd(t, s.alice, b.GetId(), 1)
	update := func(id string, in *catalogv1.BookInput, paths ...string) {
		t.Helper()
		if _, err := s.catalog.c.UpdateBook(t.Context(), connect.NewRequest(&catalogv1.UpdateBookRequest{
			Id: id, Book: in, UpdateMask: mask(paths...)})); err != nil {
			t.Fatal(err)
		}
	}
	update(a.GetId(), &catalogv1.BookInput{Price: eur(1250), Title: "Renamed " + a.GetTitle()}, "price", "title")
	got := getBasket(t, s.alice)
	if l := lineOf(got, a.GetId()); cents(l.GetUnitPrice()) != 1250 || cents(l.GetLineTotal()) != 2500 || l.GetTitle() != "Renamed "+a.GetTitle() {
		t.Fatalf("after the price change: %v", l)
	}
	wantTotal(t, got, 2500+500)
	// A sale price is what the book sells for.
	update(a.GetId(), &catalogv1.BookInput{SalePrice: eur(999)}, "sale_price")
	wantTotal(t, getBasket(t, s.alice), 2*999+500)
	// Out of stock and deleted books stay in the basket, unavailable and
	// out of the total.
	update(b.GetId(), &catalogv1.BookInput{StockQuantity: 0}, "stock_quantity")
	got = getBasket(t, s.alice)
	if l := lineOf(got, b.GetId()); l.GetAvailable() || cents(l.GetUnitPrice()) != 500 {
		t.Fatalf("the line of a book out of stock: %v", l)
	}
	wantTotal(t, got, 2*999)
	if _, err := s.catalog.c.DeleteBook(t.Context(), connect.NewRequest(&catalogv1.DeleteBookRequest{Id: a.GetId()})); err != nil {
		t.Fatal(err)
	}
	got = getBasket(t, s.alice)
	if l := lineOf(got, a.GetId()); l.GetAvailable() || got.GetItemCount() != 3 {
		t.Fatalf("the line of a deleted book: %v", got)
	}
	wantTotal(t, got, 0)
}

// testBasketRetries: AddItem sent twice with one request id adds once and
// answers the same basket; a request id reused for another addition is
// refused.
func testBasketRetries(t *testing.T, s shoppers) {
	a := s.book(t, 1000)
	req := newID()
	first, err := addItem(s.alice, a.GetId(), 2, req)
	if err != nil {
		t.Fatal(err)
	}
	second, err := addItem(s.alice, a.GetId(), 2, req)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(first, second) || lineOf(second, a.GetId()).GetQuantity() != 2 {
		t.Fatalf("the retry answered %v, the first call %v", second, first)
	}
	_, err = addItem(s.alice, a.GetId(), 3, req)
	wantInvalid(t, err, "request_id")
	_, err = addItem(s.alice, s.book(t, 100).GetId(), 2, req)
	wantInvalid(t, err, "request_id")
	// A retry still answers after the book stopped selling: the addition was
	// made.
	if _, err := s.catalog.c.DeleteBook(t.Context(), connect.NewRequest(&catalogv1.DeleteBookRequest{Id: a.GetId()})); err != nil {
		t.Fatal(err)
	}
	third, err := addItem(s.alice, a.GetId(), 2, req)
	if err != nil || third.GetEtag() != first.GetEtag() {
		t.Fatalf("a retry after the book was deleted: %v, %v", third, err)
	}
	// Another customer's identical request id is theirs alone.
	b := mustAdd(t, s.bob, s.book(t, 100).GetId(), 1)
	if _, err := addItem(s.bob, a.GetId(), 2, req); connect.CodeOf(err) != connect.CodeFailedPrecondition || len(b.GetLines()) != 1 {
		t.Fatalf("bob reusing alice's request id: %v (he may not add the deleted book)", err)
	}
}

// testBasketOwnership: a customer reaches their own basket only; no call
// of another customer, nor of the admin, sees or changes it.
func testBasketOwnership(t *testing.T, s shoppers) {
	a := s.book(t, 1000)
	mine := mustAdd(t, s.alice, a.GetId(), 2)

	for _, c := range []basketv1connect.BasketServiceClient{s.bob, s.admin} {
		if got := getBasket(t, c); lineOf(got, a.GetId()) != nil {
			t.Fatalf("another caller sees alice's line: %v", got)
		}
		_, err := setQuantity(c, a.GetId(), 5)
		wantCode(t, err, connect.CodeNotFound) // as for a line that does not exist
		if _, err := removeItem(c, a.GetId()); err != nil {
			t.Fatal(err)
		}
		if _, err := clearBasket(c); err != nil {
			t.Fatal(err)
		}
	}
	if got := getBasket(t, s.alice); !proto.Equal(got, mine) {
		t.Fatalf("other callers changed alice's basket: %v, want %v", got, mine)
	}

	// Anonymous callers are asked to sign in, for every RPC.
	_, err := s.anonymous.GetBasket(t.Context(), connect.NewRequest(&basketv1.GetBasketRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated)
	_, err = addItem(s.anonymous, a.GetId(), 1, newID())
	wantCode(t, err, connect.CodeUnauthenticated)
	_, err = setQuantity(s.anonymous, a.GetId(), 1)
	wantCode(t, err, connect.CodeUnauthenticated)
	_, err = removeItem(s.anonymous, a.GetId())
	wantCode(t, err, connect.CodeUnauthenticated)
	_, err = clearBasket(s.anonymous)
	wantCode(t, err, connect.CodeUnauthenticated)
}

// TestBasketRequestsNameNoUser: no request of the basket service has a
// field that could name a user, so the caller's token is the only way to
// choose a basket.
func TestBasketRequestsNameNoUser(t *testing.T) {
	methods := basketv1.File_bookworm_basket_v1_basket_proto.Services().ByName("BasketService").Methods()
	for i := range methods.Len() {
		in := methods.Get(i).Input()
		for j := range in.Fields().Len() {
			name := strings.ToLower(string(in.Fields().Get(j).Name()))
			if strings.Contains(name, "user") || strings.Contains(name, "owner") || strings.Contains(name, "customer") || strings.Contains(name, "basket") {
				t.Errorf("%s has the field %s", in.FullName(), name)
			}
		}
	}
}

// TestBasketLineLimit: a basket holds at most 100 different books; the
// 101st is InvalidArgument and changes nothing.
func TestBasketLineLimit(t *testing.T) {
	s := newShoppers(t, connectProto)
	books := make([]string, 101)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range books {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			books[i] = s.book(t, int64(100+i)).GetId()
		}()
	}
	wg.Wait()
	var want int64
	for i, id := range books[:100] {
		mustAdd(t, s.alice, id, 1)
		want += int64(100 + i)
	}
	_, err := addItem(s.alice, books[100], 1, newID())
	wantInvalid(t, err, "book_id")
	got := getBasket(t, s.alice)
	if len(got.GetLines()) != 100 || got.GetItemCount() != 100 {
		t.Fatalf("%d lines, %d items", len(got.GetLines()), got.GetItemCount())
	}
	wantTotal(t, got, want)
	for i, l := range got.GetLines() {
		if l.GetBookId() != books[i] {
			t.Fatalf("line %d is %s, want %s (oldest first)", i, l.GetBookId(), books[i])
		}
	}
	// Adding to a line is no new line; removing one makes room.
	mustAdd(t, s.alice, books[0], 5)
	if _, err := removeItem(s.alice, books[1]); err != nil {
		t.Fatal(err)
	}
	mustAdd(t, s.alice, books[100], 1)
}

// TestBasketConcurrentAdditions: a customer adding many books at once (two
// tabs, a retrying client) loses none: each addition lands once.
func TestBasketConcurrentAdditions(t *testing.T) {
	s := newShoppers(t, grpcProto)
	const n = 20
	books := make([]string, n)
	for i := range books {
		books[i] = s.book(t, 100).GetId()
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for _, id := range books {
		req := newID()
		for range 2 { // every addition sent twice at once
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := addItem(s.alice, id, 3, req)
				errs <- err
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a concurrent addition failed: %v", err)
		}
	}
	got := getBasket(t, s.alice)
	if len(got.GetLines()) != n || got.GetItemCount() != 3*n || got.GetEtag() != fmt.Sprint(n) {
		t.Fatalf("%d lines, %d items, etag %s after %d additions sent twice each", len(got.GetLines()), got.GetItemCount(), got.GetEtag(), n)
	}
	wantTotal(t, got, 3*n*100)
}

// TestBasketClearedWhenOrderConfirmed: the ordering context's
// OrderConfirmed (written to the outbox of the server's database, as the
// ordering context does, then relayed through RabbitMQ) empties the
// buyer's basket, once: a redelivered confirmation does not empty it again.
func TestBasketClearedWhenOrderConfirmed(t *testing.T) {
	s := newShoppers(t, connectProto)
	mustAdd(t, s.alice, s.book(t, 100).GetId(), 1)
	mustAdd(t, s.bob, s.book(t, 100).GetId(), 1)
	order := newID()
	pool := serverPool(t)
	// confirm enqueues the confirmation and returns its event id.
	confirm := func() (eventID string) {
		t.Helper()
		err := pgx.BeginFunc(t.Context(), pool, func(tx pgx.Tx) error {
			if err := outbox.Enqueue(t.Context(), tx, "ordering", &orderingv1.OrderConfirmed{
				// Buyer details as the ordering context sends them, so the
				// notification context (which consumes it too) has what
				// an email needs instead of retrying into its dead letters.
				OrderId: order, Version: 4, UserId: s.aliceID, Total: eur(100),
				BuyerEmail: "alice.basket@example.com", BuyerName: "Alice Basket"}); err != nil {
				return err
			}
			return tx.QueryRow(t.Context(), `SELECT event_id::text FROM events.outbox WHERE type = $1 ORDER BY seq DESC LIMIT 1`,
				"bookworm.ordering.v1.OrderConfirmed").Scan(&eventID)
		})
		if err != nil {
			t.Fatal(err)
		}
		return eventID
	}
	handled := func(eventID string) bool {
		var n int
		err := pool.QueryRow(t.Context(), `SELECT count(*) FROM events.inbox WHERE consumer = 'basket.order-confirmations' AND event_id = $1`,
			eventID).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	confirm()
	pollUntil(t, "the basket is cleared after the order", func() bool { return len(getBasket(t, s.alice).GetLines()) == 0 })
	if got := getBasket(t, s.bob); len(got.GetLines()) != 1 {
		t.Fatalf("alice's order changed bob's basket: %v", got)
	}
	// Alice fills her basket again; the same confirmation once more (a new
	// event id: a replay) leaves it alone.
	next := mustAdd(t, s.alice, s.book(t, 200).GetId(), 2)
	replay := confirm()
	pollUntil(t, "the basket context handled the replayed confirmation", func() bool { return handled(replay) })
	if got := getBasket(t, s.alice); !proto.Equal(got, next) {
		t.Fatalf("a replayed confirmation changed the basket: %v, want %v", got, next)
	}
}

// TestBasketAsksTheCatalogWhereItRuns: a basket reads its books from the
// catalog on every call. In one process that is a call of the catalog's use
// cases, which no RPC metric counts; split, it is a
// CatalogService.BatchGetBooks call over gRPC that the catalog process
// counts, and the catalog's answers (NotFound, FailedPrecondition with its
// reason) reach the customer as in process.
func TestBasketAsksTheCatalogWhereItRuns(t *testing.T) {
	s := newShoppers(t, grpcProto)
	metricsOf := srv.metricsAddr
	if splitTopology() {
		metricsOf = splitCatalog.metricsAddr
	}
	batches := func() int {
		n := 0
		for _, m := range scrape(t, metricsOf) {
			if m.name == "bookworm_rpc_requests_total" && m.labels["procedure"] == "/"+catalogv1connect.CatalogServiceName+"/BatchGetBooks" {
				n += int(m.value)
			}
		}
		return n
	}
	before := batches()
	a := s.book(t, 1000)
	mustAdd(t, s.alice, a.GetId(), 1)
	getBasket(t, s.alice)
	_, err := addItem(s.alice, newID(), 1, newID())
	wantCode(t, err, connect.CodeNotFound)
	out := s.book(t, 1000, func(in *catalogv1.BookInput) { in.StockQuantity = 0 })
	_, err = addItem(s.alice, out.GetId(), 1, newID())
	wantReason(t, err, "BOOK_OUT_OF_STOCK", out.GetId())
	got := batches() - before
	switch {
	case splitTopology() && got < 4:
		t.Fatalf("the catalog process served %d BatchGetBooks calls for four basket calls, want at least 4", got)
	case !splitTopology() && got != 0:
		t.Fatalf("%d BatchGetBooks RPCs for books read in process, want 0", got)
	}
}
