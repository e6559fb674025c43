package ordering_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/identity"
	"github.com/bookworm-store/bookworm/internal/core/money"
	"github.com/bookworm-store/bookworm/internal/core/ordering"
)

// fakeStore keeps orders as snapshots, so an update that fails saves
// nothing. It checks on every save that the history only grew.
type fakeStore struct {
	t         *testing.T
	mu        sync.Mutex
	orders    map[string]ordering.Snapshot
	byRequest map[string]string
	events    []ordering.Event
	// createGate, when set, is waited on by Create before it takes the lock,
	// so that tests can line racing PlaceOrders up behind FindByRequest.
	createGate chan struct{}
	feed       *fakeFeed
}

func newFakeStore(t *testing.T) *fakeStore {
	return &fakeStore{t: t, orders: map[string]ordering.Snapshot{}, byRequest: map[string]string{}}
}

func (f *fakeStore) restore(id string) (*ordering.Order, error) {
	s, ok := f.orders[id]
	if !ok {
		return nil, failure.NotFound("order %s not found", id)
	}
	o, err := ordering.Restore(s)
	if err != nil {
		f.t.Fatalf("Restore: %v", err)
	}
	return o, nil
}

func (f *fakeStore) Create(_ context.Context, o *ordering.Order, events []ordering.Event) (*ordering.Order, bool, error) {
	if f.createGate != nil {
		<-f.createGate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	key := o.UserID() + "/" + o.RequestID()
	if id, ok := f.byRequest[key]; ok {
		stored, err := f.restore(id)
		return stored, false, err
	}
	f.byRequest[key] = o.ID()
	f.orders[o.ID()] = o.Snapshot()
	f.events = append(f.events, events...)
	stored, err := f.restore(o.ID())
	return stored, true, err
}

func (f *fakeStore) Get(_ context.Context, id string) (*ordering.Order, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.restore(id)
}

func (f *fakeStore) FindByRequest(_ context.Context, userID, requestID string) (*ordering.Order, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.byRequest[userID+"/"+requestID]
	if !ok {
		return nil, failure.NotFound("no order for request %s", requestID)
	}
	return f.restore(id)
}

func (f *fakeStore) Update(_ context.Context, id string, update func(*ordering.Order) ([]ordering.Event, error)) (*ordering.Order, error) {
	f.mu.Lock()
	o, err := f.restore(id)
	if err != nil {
		f.mu.Unlock()
		return nil, err
	}
	before := o.History()
	evs, err := update(o)
	if err != nil {
		f.mu.Unlock()
		return nil, err
	}
	after := o.History()
	if len(after) < len(before) || !slices.EqualFunc(before, after[:len(before)], func(a, b ordering.HistoryEntry) bool { return a == b }) {
		f.t.Errorf("order %s: history was rewritten", id)
	}
	f.orders[id] = o.Snapshot()
	f.events = append(f.events, evs...)
	stored, err := f.restore(id)
	feed := f.feed
	f.mu.Unlock()
	if feed != nil && len(after) > len(before) {
		feed.publish(id, stored.Version())
	}
	return stored, err
}

func (f *fakeStore) List(_ context.Context, q ordering.ListQuery) (ordering.Page, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*ordering.Order
	for id := range f.orders {
		o, _ := f.restore(id)
		switch {
		case q.UserID != "" && o.UserID() != q.UserID:
		case len(q.Statuses) > 0 && !slices.Contains(q.Statuses, o.Status()):
		case !q.CreatedFrom.IsZero() && o.CreatedAt().Before(q.CreatedFrom):
		case !q.CreatedBefore.IsZero() && !o.CreatedAt().Before(q.CreatedBefore):
		default:
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt().Equal(out[j].CreatedAt()) {
			return out[i].CreatedAt().After(out[j].CreatedAt())
		}
		return out[i].ID() > out[j].ID()
	})
	var next string
	if len(out) > q.PageSize {
		out, next = out[:q.PageSize], "more"
	}
	return ordering.Page{Orders: out, NextPageToken: next}, nil
}

func (f *fakeStore) Due(_ context.Context, now time.Time, limit int) ([]*ordering.Order, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*ordering.Order
	for id, s := range f.orders {
		if !s.Deadline.IsZero() && !s.Deadline.After(now) {
			o, _ := f.restore(id)
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Deadline().Before(out[j].Deadline()) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (f *fakeStore) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.orders)
}

func (f *fakeStore) eventNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for _, e := range f.events {
		names = append(names, fmt.Sprintf("%T", e)[len("ordering."):])
	}
	return names
}

type fakeBaskets struct {
	mu    sync.Mutex
	lines map[string][]ordering.BasketLine
}

func (b *fakeBaskets) Lines(_ context.Context, userID string) ([]ordering.BasketLine, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.lines[userID]), nil
}

type fakeCatalog struct {
	books map[string]ordering.Book
}

func (c *fakeCatalog) Books(_ context.Context, ids []string) (map[string]ordering.Book, error) {
	out := map[string]ordering.Book{}
	for _, id := range ids {
		if b, ok := c.books[id]; ok {
			out[id] = b
		}
	}
	return out, nil
}

// fakeGateway answers charges by token, counts the charges per key and
// records voids and refunds. A key is charged at most once.
type fakeGateway struct {
	mu sync.Mutex
	// script maps a token to its answers in turn; the last one repeats.
	script  map[string][]gwAnswer
	calls   map[string]int
	results map[string]ordering.ChargeResult
	charged map[string]int
	voided  map[string]bool
	refunds map[string]money.Money
	// voidErrs and refundErrs fail that many calls temporarily first.
	voidErrs, refundErrs int
}

type gwAnswer struct {
	result ordering.ChargeResult
	err    error
}

func newFakeGateway() *fakeGateway {
	ok := ordering.ChargeResult{Outcome: ordering.ChargeSucceeded, PaymentID: "pay_1"}
	return &fakeGateway{
		script: map[string][]gwAnswer{
			"tok_ok":       {{result: ok}},
			"tok_declined": {{result: ordering.ChargeResult{Outcome: ordering.ChargeDeclined}}},
			"tok_funds":    {{result: ordering.ChargeResult{Outcome: ordering.ChargeInsufficientFunds}}},
			"tok_bad":      {{err: fmt.Errorf("%w: invalid token", ordering.ErrGatewayPermanent)}},
			"tok_flaky":    {{err: fmt.Errorf("%w: 503", ordering.ErrGatewayTemporary)}, {result: ok}},
			"tok_down":     {{err: fmt.Errorf("%w: 503", ordering.ErrGatewayTemporary)}},
			"tok_3ds":      {{result: ordering.ChargeResult{Outcome: ordering.ChargeRequiresAction, PaymentID: "pay_3", ClientSecret: "pi_3_secret"}}},
		},
		calls: map[string]int{}, results: map[string]ordering.ChargeResult{}, charged: map[string]int{},
		voided: map[string]bool{}, refunds: map[string]money.Money{},
	}
}

func (g *fakeGateway) Charge(_ context.Context, r ordering.ChargeRequest) (ordering.ChargeResult, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.voided[r.IdempotencyKey] {
		return ordering.ChargeResult{}, fmt.Errorf("%w: voided", ordering.ErrGatewayPermanent)
	}
	if res, ok := g.results[r.IdempotencyKey]; ok {
		return res, nil
	}
	answers := g.script[r.PaymentToken]
	n := g.calls[r.IdempotencyKey]
	g.calls[r.IdempotencyKey]++
	a := answers[min(n, len(answers)-1)]
	if a.err != nil {
		return ordering.ChargeResult{}, a.err
	}
	g.results[r.IdempotencyKey] = a.result
	if a.result.Outcome == ordering.ChargeSucceeded {
		g.charged[r.IdempotencyKey]++
	}
	return a.result, nil
}

// complete3DS finishes a payment waiting for the customer.
func (g *fakeGateway) complete3DS(key string, ok bool) ordering.ChargeResult {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := ordering.ChargeResult{Outcome: ordering.ChargeSucceeded, PaymentID: "pay_3"}
	if !ok {
		r.Outcome = ordering.ChargeDeclined
	} else {
		g.charged[key]++
	}
	g.results[key] = r
	return r
}

func (g *fakeGateway) Void(_ context.Context, key string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.voidErrs > 0 {
		g.voidErrs--
		return ordering.ErrGatewayTemporary
	}
	g.voided[key] = true
	return nil
}

func (g *fakeGateway) Refund(_ context.Context, r ordering.RefundRequest) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.refundErrs > 0 {
		g.refundErrs--
		return ordering.ErrGatewayTemporary
	}
	g.refunds[r.IdempotencyKey] = r.Amount
	return nil
}

func (g *fakeGateway) chargesOf(orderID string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.charged[ordering.ChargeKey(orderID)]
}

// fakeFeed delivers versions to subscribers.
type fakeFeed struct {
	mu   sync.Mutex
	subs map[string][]chan int64
}

func (f *fakeFeed) Subscribe(ctx context.Context, id string) (<-chan int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan int64, 16)
	if f.subs == nil {
		f.subs = map[string][]chan int64{}
	}
	f.subs[id] = append(f.subs[id], ch)
	return ch, nil
}

func (f *fakeFeed) publish(id string, v int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ch := range f.subs[id] {
		select {
		case ch <- v:
		default:
		}
	}
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

var (
	alice = identity.Principal{Subject: "alice", Email: "alice@example.com", Name: "Alice A", Roles: []string{identity.RoleUser}}
	bob   = identity.Principal{Subject: "bob", Email: "bob@example.com", Name: "Bob B", Roles: []string{identity.RoleUser}}
	admin = identity.Principal{Subject: "root", Roles: []string{identity.RoleUser, identity.RoleAdmin}}
)

func ctxOf(p identity.Principal) context.Context {
	return identity.WithPrincipal(context.Background(), p)
}

const (
	bookA    = "01900000-0000-7000-8000-00000000000a"
	bookB    = "01900000-0000-7000-8000-00000000000b"
	bookSale = "01900000-0000-7000-8000-00000000005a"
	bookUSD  = "01900000-0000-7000-8000-0000000000cd"
	bookGone = "01900000-0000-7000-8000-0000000000dd"
	bookOut  = "01900000-0000-7000-8000-0000000000ff"
	missing  = "01900000-0000-7000-8000-000000000999"
)

func reqID(n int) string { return fmt.Sprintf("01900000-0000-7000-9000-%012d", n) }

func eur(t *testing.T, minor int64) money.Money {
	t.Helper()
	m, err := money.New("EUR", minor)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// world is a Service over fakes.
type world struct {
	svc     *ordering.Service
	store   *fakeStore
	baskets *fakeBaskets
	gw      *fakeGateway
	clock   *clock
	feed    *fakeFeed
	ids     int
}

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func newWorld(t *testing.T) *world {
	t.Helper()
	usd, _ := money.New("USD", 500)
	w := &world{store: newFakeStore(t), gw: newFakeGateway(), clock: &clock{now: t0}, feed: &fakeFeed{}}
	w.store.feed = w.feed
	w.baskets = &fakeBaskets{lines: map[string][]ordering.BasketLine{
		"alice": {{BookID: bookA, Quantity: 2}, {BookID: bookSale, Quantity: 1}},
		"bob":   {{BookID: bookB, Quantity: 1}},
	}}
	cat := &fakeCatalog{books: map[string]ordering.Book{
		bookA:    {ID: bookA, Title: "A", Price: eur(t, 1299), InStock: true},
		bookB:    {ID: bookB, Title: "B", Price: eur(t, 500), InStock: true},
		bookSale: {ID: bookSale, Title: "On sale", Price: eur(t, 799), InStock: true},
		bookUSD:  {ID: bookUSD, Title: "Dollar", Price: usd, InStock: true},
		bookGone: {ID: bookGone, Title: "Gone", Price: eur(t, 100), Deleted: true, InStock: true},
		bookOut:  {ID: bookOut, Title: "Out", Price: eur(t, 100), InStock: false},
	}}
	var mu sync.Mutex
	w.svc = ordering.NewService(ordering.Deps{
		Store: w.store, Baskets: w.baskets, Catalog: cat, Gateway: w.gw, Feed: w.feed, Now: w.clock.Now,
		NewID: func() string {
			mu.Lock()
			defer mu.Unlock()
			w.ids++
			return fmt.Sprintf("01900000-0000-7000-a000-%012d", w.ids)
		},
	})
	return w
}

var homeAddress = ordering.AddressFields{Name: "Alice A", Lines: []string{"Hauptstr. 1"}, City: "Berlin", PostalCode: "10115", Country: "DE"}

// place places alice's basket with token and returns the order id.
func (w *world) place(t *testing.T, p identity.Principal, token string) string {
	t.Helper()
	v, err := w.svc.PlaceOrder(ctxOf(p), ordering.PlaceOrderInput{RequestID: reqID(w.ids + 1000), Address: homeAddress, PaymentToken: token})
	if err != nil {
		t.Fatalf("PlaceOrder: %v", err)
	}
	return v.ID
}

func (w *world) order(t *testing.T, id string) *ordering.Order {
	t.Helper()
	o, err := w.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func mustUSD(t *testing.T, minor int64) money.Money {
	t.Helper()
	m, err := money.New("USD", minor)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
