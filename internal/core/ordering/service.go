package ordering

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/identity"
)

// Policy holds the saga's patience. The zero value of a field means its
// default.
type Policy struct {
	// StockTimeout is how long the order waits for the catalog before the
	// sweeper asks again (default 30s); after StockAttempts asks (default 3)
	// the order fails with ReasonStockTimeout.
	StockTimeout  time.Duration
	StockAttempts int
	// GatewayCallTimeout bounds one gateway call (default 10s).
	GatewayCallTimeout time.Duration
	// PaymentTimeout is how long a reserved order waits for its charge's
	// answer before the sweeper charges again (default 30s).
	PaymentTimeout time.Duration
	// PaymentAttempts is how many temporary gateway errors a charge survives
	// (default 4), with PaymentBackoff (default 1s) doubling between tries;
	// then the order fails with ReasonPaymentTimeout and the charge is voided.
	PaymentAttempts int
	PaymentBackoff  time.Duration
	// ActionTimeout is how long the customer has for a 3-D Secure step
	// (default 15m).
	ActionTimeout time.Duration
	// CompensationBackoff is the first wait before a failed void or refund is
	// tried again (default 10s), doubling up to an hour. Compensations are
	// never given up: it is the customer's money.
	CompensationBackoff time.Duration
	// SweepParallelism is how many orders ResumeStuck resumes at once
	// (default 4).
	SweepParallelism int
}

func (p Policy) withDefaults() Policy {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&p.StockTimeout, 30*time.Second)
	set(&p.GatewayCallTimeout, 10*time.Second)
	set(&p.PaymentTimeout, 30*time.Second)
	set(&p.PaymentBackoff, time.Second)
	set(&p.ActionTimeout, 15*time.Minute)
	set(&p.CompensationBackoff, 10*time.Second)
	if p.StockAttempts <= 0 {
		p.StockAttempts = 3
	}
	if p.PaymentAttempts <= 0 {
		p.PaymentAttempts = 4
	}
	if p.SweepParallelism <= 0 {
		p.SweepParallelism = 4
	}
	return p
}

// backoff returns base doubled attempts times, capped at an hour.
func backoff(base time.Duration, attempts int) time.Duration {
	d := base
	for i := 0; i < attempts && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// Deps are the ports of the ordering use cases.
type Deps struct {
	Store   OrderStore
	Baskets Baskets
	Catalog Catalog
	Gateway PaymentGateway
	// Feed may be nil when WatchOrder is not served.
	Feed ChangeFeed
	// Now may be nil for the wall clock; NewID nil for id.New.
	Now    func() time.Time
	NewID  func() string
	Policy Policy
}

// Service holds the ordering use cases and the saga's reactions.
type Service struct {
	store   OrderStore
	baskets Baskets
	catalog Catalog
	gateway PaymentGateway
	feed    ChangeFeed
	now     func() time.Time
	newID   func() string
	policy  Policy
}

// NewService returns the use cases over d. Its clock reads microseconds,
// the precision stores keep, so an order reads back exactly as it was made
// (a retried PlaceOrder answers what the first call answered).
func NewService(d Deps) *Service {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	newID := d.NewID
	if newID == nil {
		newID = id.New
	}
	return &Service{store: d.Store, baskets: d.Baskets, catalog: d.Catalog, gateway: d.Gateway, feed: d.Feed,
		now: func() time.Time { return now().UTC().Truncate(time.Microsecond) }, newID: newID, policy: d.Policy.withDefaults()}
}

// MaxPaymentTokenLen bounds the payment method token.
const MaxPaymentTokenLen = 255

// ErrRequestIDReused is returned when a PlaceOrder request id comes back
// with a different request. It matches failure.ErrFailedPrecondition.
var ErrRequestIDReused = failure.FailedPrecondition("request_id was already used for a different PlaceOrder request; use a new request id for a new order")

// PlaceOrderInput is the request of PlaceOrder.
type PlaceOrderInput struct {
	RequestID    string
	Address      AddressFields
	PaymentToken string
}

// PlaceOrder orders the caller's basket (see the contract for the rules). A
// request id the caller used before returns the original response; with a
// different request it is ErrRequestIDReused.
func (s *Service) PlaceOrder(ctx context.Context, in PlaceOrderInput) (View, error) {
	p, err := identity.Require(ctx)
	if err != nil {
		return View{}, err
	}
	var v failure.Violations
	if !id.Valid(in.RequestID) {
		v.Add("request_id", "must be a UUID")
	}
	addr, err := NewAddress(in.Address)
	if err != nil && !v.Merge("shipping_address", err) {
		return View{}, err
	}
	switch tok := in.PaymentToken; {
	case tok == "":
		v.Add("payment_method_token", "must not be empty")
	case len(tok) > MaxPaymentTokenLen:
		v.Add("payment_method_token", "must be at most 255 bytes")
	case !utf8.ValidString(tok) || strings.IndexFunc(tok, unicode.IsControl) >= 0 || strings.IndexFunc(tok, unicode.IsSpace) >= 0:
		// Never echo the token: it is a credential.
		v.Add("payment_method_token", "must be a payment method token")
	}
	if err := v.Err(); err != nil {
		return View{}, err
	}
	fp := fingerprint(addr, in.PaymentToken)
	if prev, err := s.store.FindByRequest(ctx, p.Subject, in.RequestID); err == nil {
		return original(prev, fp)
	} else if !errors.Is(err, failure.ErrNotFound) {
		return View{}, err
	}
	lines, err := s.priceBasket(ctx, p.Subject)
	if err != nil {
		return View{}, err
	}
	now := s.now()
	o, events, err := Place(PlaceInput{
		ID: s.newID(), Buyer: Buyer{UserID: p.Subject, Email: p.Email, Name: p.Name},
		RequestID: in.RequestID, Fingerprint: fp, Lines: lines, Address: addr, PaymentToken: in.PaymentToken,
		Now: now, StockDeadline: now.Add(s.policy.StockTimeout),
	})
	if err != nil {
		return View{}, err
	}
	stored, _, err := s.store.Create(ctx, o, events)
	if err != nil {
		return View{}, err
	}
	// Whoever won a race with the same request id, every caller answers
	// from the stored order.
	return original(stored, fp)
}

func original(o *Order, fp string) (View, error) {
	if o.Fingerprint() != fp {
		return View{}, ErrRequestIDReused
	}
	return o.AsPlaced(), nil
}

// fingerprint identifies a PlaceOrder request by its fields. The basket is
// not part of it: a retry that finds the basket changed still gets the
// original order, as a retried payment request would.
func fingerprint(a Address, token string) string {
	h := sha256.New()
	h.Write([]byte(a.canonical()))
	h.Write([]byte{0})
	h.Write([]byte(token))
	return hex.EncodeToString(h.Sum(nil))
}

// priceBasket reads the buyer's basket and prices every line now.
func (s *Service) priceBasket(ctx context.Context, userID string) ([]Line, error) {
	items, err := s.baskets.Lines(ctx, userID)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, failure.FailedPrecondition("the basket is empty")
	}
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.BookID
	}
	books, err := s.catalog.Books(ctx, ids)
	if err != nil {
		return nil, err
	}
	var gone, out []string
	lines := make([]Line, 0, len(items))
	for _, it := range items {
		b, ok := books[it.BookID]
		switch {
		case !ok || b.Deleted:
			gone = append(gone, it.BookID)
			continue
		case !b.InStock:
			out = append(out, it.BookID)
			continue
		}
		l, err := NewLine(b.ID, b.Title, it.Quantity, b.Price)
		if err != nil {
			return nil, err
		}
		lines = append(lines, l)
	}
	if len(gone) > 0 {
		slices.Sort(gone)
		return nil, failure.FailedPrecondition("these books are no longer sold; remove them from the basket: %s", strings.Join(gone, ", "))
	}
	if len(out) > 0 {
		slices.Sort(out)
		return nil, failure.FailedPrecondition("these books are out of stock: %s", strings.Join(out, ", "))
	}
	return lines, nil
}

func notFound(orderID string) error { return failure.NotFound("order %s not found", orderID) }

// load returns an order the caller may see: the buyer's own, or any for an
// admin. Another user's order is the same NotFound as a missing one.
func (s *Service) load(ctx context.Context, orderID string) (identity.Principal, *Order, error) {
	p, err := identity.Require(ctx)
	if err != nil {
		return identity.Principal{}, nil, err
	}
	if !id.Valid(orderID) {
		return identity.Principal{}, nil, failure.Invalid("id", "must be a UUID")
	}
	o, err := s.store.Get(ctx, orderID)
	if errors.Is(err, failure.ErrNotFound) {
		return identity.Principal{}, nil, notFound(orderID)
	}
	if err != nil {
		return identity.Principal{}, nil, err
	}
	if err := identity.CheckOwner(ctx, o.UserID(), notFound(orderID), identity.RoleAdmin); err != nil {
		return identity.Principal{}, nil, err
	}
	return p, o, nil
}

// GetOrder returns one of the caller's orders (any, for an admin).
func (s *Service) GetOrder(ctx context.Context, orderID string) (View, error) {
	p, o, err := s.load(ctx, orderID)
	if err != nil {
		return View{}, err
	}
	return o.ViewFor(p.Subject), nil
}

// GetOrderHistory returns the order's audit trail, oldest first.
func (s *Service) GetOrderHistory(ctx context.Context, orderID string) ([]HistoryEntry, error) {
	_, o, err := s.load(ctx, orderID)
	if err != nil {
		return nil, err
	}
	return o.History(), nil
}

// ListOrdersInput is the request of ListOrders.
type ListOrdersInput struct {
	UserID        string
	Statuses      []Status
	CreatedFrom   time.Time
	CreatedBefore time.Time
	PageSize      int
	PageToken     string
}

// ViewPage is one page of ListOrders.
type ViewPage struct {
	Orders        []View
	NextPageToken string
}

// Limits of ListOrders.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
	MaxPageTokenLen = 1024
)

// ListOrders pages through the caller's orders, newest first; an admin sees
// everybody's and may filter by user.
func (s *Service) ListOrders(ctx context.Context, in ListOrdersInput) (ViewPage, error) {
	owner, all, err := identity.ListScope(ctx, identity.RoleAdmin)
	if err != nil {
		return ViewPage{}, err
	}
	var v failure.Violations
	switch {
	case in.PageSize < 0 || in.PageSize > MaxPageSize:
		v.Add("page_size", "must be between 0 and 100")
	case in.PageSize == 0:
		in.PageSize = DefaultPageSize
	}
	if len(in.PageToken) > MaxPageTokenLen {
		v.Add("page_token", "must be at most 1024 bytes")
	}
	for i, st := range in.Statuses {
		if !st.Valid() {
			v.Add("statuses["+strconv.Itoa(i)+"]", "must be a defined status")
		}
	}
	if !in.CreatedFrom.IsZero() && !in.CreatedBefore.IsZero() && !in.CreatedFrom.Before(in.CreatedBefore) {
		v.Add("create_time_end", "must be after create_time_start")
	}
	if err := v.Err(); err != nil {
		return ViewPage{}, err
	}
	q := ListQuery{UserID: in.UserID, Statuses: slices.Clone(in.Statuses), CreatedFrom: in.CreatedFrom.UTC(),
		CreatedBefore: in.CreatedBefore.UTC(), PageSize: in.PageSize, PageToken: in.PageToken}
	if !all {
		if in.UserID != "" && in.UserID != owner {
			return ViewPage{}, fmt.Errorf("%w: only admins may list another user's orders", failure.ErrPermissionDenied)
		}
		q.UserID = owner
	}
	page, err := s.store.List(ctx, q)
	if err != nil {
		return ViewPage{}, err
	}
	p, _ := identity.FromContext(ctx)
	out := ViewPage{NextPageToken: page.NextPageToken}
	for _, o := range page.Orders {
		out.Orders = append(out.Orders, o.ViewFor(p.Subject))
	}
	return out, nil
}

// Limits of the free text of CancelOrder and ShipOrder.
const (
	MaxCancelReasonLen = 500
	MaxTrackingLen     = 100
)

// CancelOrder cancels an order (see Order.Cancel for who may when) and
// refunds or voids its payment. A refund the gateway does not confirm at
// once is retried by the sweeper; the order is cancelled either way.
func (s *Service) CancelOrder(ctx context.Context, orderID, reason string) (View, error) {
	if utf8.RuneCountInString(reason) > MaxCancelReasonLen || !utf8.ValidString(reason) {
		return View{}, failure.Invalid("reason", "must be valid UTF-8 of at most 500 characters")
	}
	p, _, err := s.load(ctx, orderID)
	if err != nil {
		return View{}, err
	}
	actor := Actor{Kind: ActorCustomer, ID: p.Subject}
	if p.HasRole(identity.RoleAdmin) {
		actor.Kind = ActorAdmin
	}
	now := s.now()
	o, err := s.store.Update(ctx, orderID, func(o *Order) ([]Event, error) {
		return o.Cancel(actor, strings.TrimSpace(reason), now)
	})
	if err != nil {
		return View{}, err
	}
	if o.Compensation().Due() {
		// The order is cancelled whatever the gateway says now; a refund it
		// does not confirm stays due and the sweeper retries it.
		if c, err := s.compensate(ctx, o); err == nil {
			o = c
		}
	}
	return o.ViewFor(p.Subject), nil
}

// ShipOrder marks a confirmed order shipped (admins).
func (s *Service) ShipOrder(ctx context.Context, orderID, trackingNumber string) (View, error) {
	if utf8.RuneCountInString(trackingNumber) > MaxTrackingLen || !utf8.ValidString(trackingNumber) {
		return View{}, failure.Invalid("tracking_number", "must be valid UTF-8 of at most 100 characters")
	}
	return s.adminStep(ctx, orderID, func(o *Order, a Actor, now time.Time) ([]Event, error) {
		return o.Ship(a, strings.TrimSpace(trackingNumber), now)
	})
}

// CompleteOrder marks a shipped order delivered (admins).
func (s *Service) CompleteOrder(ctx context.Context, orderID string) (View, error) {
	return s.adminStep(ctx, orderID, func(o *Order, a Actor, now time.Time) ([]Event, error) {
		return o.Complete(a, now)
	})
}

func (s *Service) adminStep(ctx context.Context, orderID string, step func(*Order, Actor, time.Time) ([]Event, error)) (View, error) {
	p, err := identity.RequireRole(ctx, identity.RoleAdmin)
	if err != nil {
		return View{}, err
	}
	if !id.Valid(orderID) {
		return View{}, failure.Invalid("id", "must be a UUID")
	}
	now := s.now()
	o, err := s.store.Update(ctx, orderID, func(o *Order) ([]Event, error) {
		return step(o, Actor{Kind: ActorAdmin, ID: p.Subject}, now)
	})
	if errors.Is(err, failure.ErrNotFound) {
		return View{}, notFound(orderID)
	}
	if err != nil {
		return View{}, err
	}
	return o.ViewFor(p.Subject), nil
}

// WatchOrder sends the order as the caller sees it, then again after every
// change, until the order is terminal (nil) or ctx ends (nil too: a client
// that leaves is no error). Keep-alives are the transport's business.
func (s *Service) WatchOrder(ctx context.Context, orderID string, send func(View) error) error {
	p, _, err := s.load(ctx, orderID)
	if err != nil {
		return err
	}
	if s.feed == nil {
		return failure.FailedPrecondition("watching orders is not served here")
	}
	// Subscribe before reading, so that no change between the read and the
	// subscription goes unseen.
	changes, err := s.feed.Subscribe(ctx, orderID)
	if err != nil {
		return err
	}
	var last int64
	push := func() (bool, error) {
		o, err := s.store.Get(ctx, orderID)
		if err != nil {
			return false, err
		}
		if o.Version() > last {
			last = o.Version()
			if err := send(o.ViewFor(p.Subject)); err != nil {
				return false, err
			}
		}
		return o.Status().Terminal(), nil
	}
	if done, err := push(); done || err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case v, ok := <-changes:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return failure.FailedPrecondition("the order's change feed ended")
			}
			if v <= last {
				continue
			}
			done, err := push()
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			if done {
				return nil
			}
		}
	}
}
