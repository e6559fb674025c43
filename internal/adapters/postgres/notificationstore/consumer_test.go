package notificationstore

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	"github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/notification"
	orderingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/ordering/v1"
	typev1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/type/v1"
)

func eur(units int64, nanos int32) *typev1.Money {
	return &typev1.Money{CurrencyCode: "EUR", Units: units, Nanos: nanos}
}

func message(t *testing.T, e proto.Message) events.Message {
	t.Helper()
	m, err := events.NewProtoMessage("/bookworm/ordering", e)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func placed(orderID string) *orderingv1.OrderPlaced {
	return &orderingv1.OrderPlaced{
		OrderId: orderID, Version: 1, UserId: "u1", BuyerEmail: "ada@example.com", BuyerName: "Ada & <Lovelace>",
		Lines: []*orderingv1.OrderLine{{BookId: id.New(), Title: "Dune", Quantity: 2, UnitPrice: eur(12, 500000000), LineTotal: eur(25, 0)}},
		Total: eur(25, 0), ShippingAddress: &orderingv1.Address{Name: "Ada", Lines: []string{"1 Analytical Street"}, City: "London", PostalCode: "N1", CountryCode: "GB"},
		OccurTime: timestamppb.Now(),
	}
}

func newConsumer(t *testing.T) (*OrderEvents, *Store) {
	t.Helper()
	pool := pgtest.RolePool(t, pgtest.NewDatabase(t), "notification", "events")
	r, err := notification.NewRenderer(notification.Shop{Name: "BookWorm", BaseURL: "http://127.0.0.1:8080"})
	if err != nil {
		t.Fatal(err)
	}
	return NewOrderEvents(pool, notification.NewNotifier(r, nil, nil), pgtest.DiscardLog()), NewStore(pool)
}

// TestOrderEventsQueueOneEmailPerEvent: an event delivered twice, the same
// placement announced again under a new event id (the ordering sweeper
// does that), and copies handled concurrently make one email each.
func TestOrderEventsQueueOneEmailPerEvent(t *testing.T) {
	ctx := pgtest.Ctx(t)
	h, store := newConsumer(t)
	order := id.New()
	msg := message(t, placed(order))
	for range 2 {
		if err := h.Handle(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Handle(ctx, message(t, placed(order))); err != nil {
		t.Fatal(err)
	}
	confirmed := message(t, &orderingv1.OrderConfirmed{OrderId: order, Version: 4, BuyerEmail: "ada@example.com", BuyerName: "Ada",
		Lines: placed(order).Lines, Total: eur(25, 0)})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := h.Handle(ctx, confirmed); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	emails, err := store.Emails(ctx, order)
	if err != nil {
		t.Fatal(err)
	}
	if len(emails) != 2 || emails[0].Kind != notification.KindPlaced || emails[1].Kind != notification.KindConfirmed {
		t.Fatalf("emails %+v, want one placed and one confirmed", emails)
	}
	e := emails[0]
	if e.To != (notification.Buyer{Email: "ada@example.com", Name: "Ada & <Lovelace>"}) || e.Status != notification.StatusPending ||
		!strings.Contains(e.Text, "€25.00") || !strings.Contains(e.HTML, "Ada &amp; &lt;Lovelace&gt;") || e.Version != 1 {
		t.Fatalf("placed email %+v", e)
	}
	// A placement that arrives after the confirmation is stale.
	if err := h.Handle(ctx, message(t, placed(order))); err != nil {
		t.Fatal(err)
	}
	if emails, _ := store.Emails(ctx, order); len(emails) != 2 {
		t.Fatalf("%d emails after a late placement", len(emails))
	}
}

// TestOrderEventsCompletedWaitsForTheBuyer: OrderCompleted names no buyer;
// before the context heard of the order it fails (to be retried) and
// writes nothing, after that it mails the remembered buyer.
func TestOrderEventsCompletedWaitsForTheBuyer(t *testing.T) {
	ctx := pgtest.Ctx(t)
	h, store := newConsumer(t)
	order := id.New()
	done := message(t, &orderingv1.OrderCompleted{OrderId: order, Version: 6, UserId: "u1"})
	if err := h.Handle(ctx, done); !errors.Is(err, notification.ErrNoRecipient) {
		t.Fatalf("completed first: %v", err)
	}
	if err := h.Handle(ctx, message(t, &orderingv1.OrderShipped{OrderId: order, Version: 5, BuyerEmail: "ada@example.com", TrackingNumber: "T-1"})); err != nil {
		t.Fatal(err)
	}
	if err := h.Handle(ctx, done); err != nil { // the retry
		t.Fatal(err)
	}
	emails, err := store.Emails(ctx, order)
	if err != nil {
		t.Fatal(err)
	}
	if len(emails) != 2 || emails[1].Kind != notification.KindCompleted || emails[1].To.Email != "ada@example.com" {
		t.Fatalf("emails %+v", emails)
	}
}

func TestNoticeOfEveryEvent(t *testing.T) {
	order := id.New()
	cases := []struct {
		event proto.Message
		check func(n notification.Notice) bool
	}{
		{placed(order), func(n notification.Notice) bool {
			return n.Kind == notification.KindPlaced && n.Version == 1 && len(n.Lines) == 1 && n.Lines[0].UnitPrice.Minor() == 1250 &&
				n.Total.Minor() == 2500 && n.Buyer.Email == "ada@example.com"
		}},
		{&orderingv1.OrderFailed{OrderId: order, Version: 3, BuyerEmail: "a@example.com",
			Failure: &orderingv1.OrderFailure{Reason: orderingv1.FailureReason_FAILURE_REASON_PAYMENT_DECLINED, Detail: "declined"}},
			func(n notification.Notice) bool {
				return n.Kind == notification.KindFailed && n.Reason == notification.ReasonPaymentDeclined && n.Detail == "declined"
			}},
		{&orderingv1.OrderCancelled{OrderId: order, Version: 4, BuyerEmail: "a@example.com", ActorKind: orderingv1.ActorKind_ACTOR_KIND_ADMIN,
			Reason: "fraud", Refund: eur(3, 990000000)}, func(n notification.Notice) bool {
			return n.Kind == notification.KindCancelled && n.Actor == notification.ActorAdmin && n.Refund.Minor() == 399 && n.CancelReason == "fraud"
		}},
		{&orderingv1.OrderCancelled{OrderId: order, Version: 4, BuyerEmail: "a@example.com"}, func(n notification.Notice) bool {
			return n.Refund.IsZero()
		}},
		{&orderingv1.OrderShipped{OrderId: order, Version: 5, BuyerEmail: "a@example.com", TrackingNumber: "T"}, func(n notification.Notice) bool {
			return n.Kind == notification.KindShipped && n.Tracking == "T"
		}},
		{&orderingv1.OrderCompleted{OrderId: strings.ToUpper(order), Version: 6}, func(n notification.Notice) bool {
			return n.Kind == notification.KindCompleted && n.OrderID == order && n.Buyer == (notification.Buyer{})
		}},
	}
	for _, c := range cases {
		n, err := NoticeOf(message(t, c.event))
		if err != nil || !c.check(n) {
			t.Errorf("%T: %+v, %v", c.event, n, err)
		}
	}
	for _, bad := range []proto.Message{
		&orderingv1.OrderCompleted{OrderId: "not-a-uuid", Version: 1},
		&orderingv1.OrderCompleted{OrderId: order, Version: 0},
		&orderingv1.PaymentSucceeded{OrderId: order, Version: 2},
		&orderingv1.OrderPlaced{OrderId: order, Version: 1, Total: &typev1.Money{CurrencyCode: "eur", Units: 1}},
	} {
		if n, err := NoticeOf(message(t, bad)); err == nil {
			t.Errorf("%T %v accepted as %+v", bad, bad, n)
		}
	}
}

// TestCleanUpOnPostgres: the clean-up deletes only sent mail older than the
// retention (through the core's sender, on the real store).
func TestCleanUpOnPostgres(t *testing.T) {
	ctx := pgtest.Ctx(t)
	h, store := newConsumer(t)
	var orders []string
	for range 3 {
		o := id.New()
		orders = append(orders, o)
		if err := h.Handle(ctx, message(t, placed(o))); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC()
	claimed, err := store.Claim(ctx, notification.ClaimQuery{Now: now.Add(time.Second), Limit: 10, Lease: time.Minute})
	if err != nil || len(claimed) != 3 {
		t.Fatalf("claimed %d, %v", len(claimed), err)
	}
	byOrder := map[string]string{}
	for _, e := range claimed {
		byOrder[e.OrderID] = e.ID
	}
	_ = store.MarkSent(ctx, byOrder[orders[0]], now.Add(-10*24*time.Hour)) // old sent
	_ = store.MarkSent(ctx, byOrder[orders[1]], now.Add(-time.Hour))       // recent sent
	_ = store.MarkFailed(ctx, byOrder[orders[2]], now.Add(-30*24*time.Hour), "550 no such user")
	s, err := notification.NewSender(store, nil, notification.SenderConfig{Retention: 7 * 24 * time.Hour}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	deleted, forgotten, err := s.CleanUp(ctx)
	if err != nil || deleted != 1 || forgotten != 0 {
		t.Fatalf("clean-up: %d deleted, %d forgotten, %v", deleted, forgotten, err)
	}
	if _, err := store.Email(ctx, byOrder[orders[0]]); err == nil {
		t.Fatal("the old sent email is still there")
	}
	for _, o := range orders[1:] {
		if _, err := store.Email(ctx, byOrder[o]); err != nil {
			t.Fatalf("email of %s: %v", o, err)
		}
	}
}
