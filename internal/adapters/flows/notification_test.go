package flows

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/notificationstore"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/outbox"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	"github.com/bookworm-store/bookworm/internal/adapters/rabbitmq"
	"github.com/bookworm-store/bookworm/internal/adapters/smtp"
	"github.com/bookworm-store/bookworm/internal/adapters/smtp/smtptest"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/notification"
	orderingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/ordering/v1"
	typev1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/type/v1"
)

// lockedBuffer is a log sink tests read while loops write to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// mailFlow is the notification context's whole path, for real: ordering
// events written to the outbox, published by the relay to RabbitMQ,
// consumed into the email outbox (inbox in the same transaction), sent by
// the sender over SMTP to Mailpit.
type mailFlow struct {
	t       *testing.T
	ctx     context.Context
	pool    *pgxpool.Pool
	broker  *rabbitmq.Broker
	mailpit *smtptest.Mailpit
	store   *notificationstore.Store
	mailer  *smtp.Mailer
	stats   *notification.Counters
	logs    *lockedBuffer
	log     *slog.Logger
	cfg     notification.SenderConfig
	handled atomic.Int64 // consumer deliveries handled without error
}

func newMailFlow(t *testing.T, mailpitFlags ...string) *mailFlow {
	t.Helper()
	f := &mailFlow{t: t, ctx: pgtest.Ctx(t), pool: pgtest.NewPool(t), stats: &notification.Counters{}, logs: &lockedBuffer{}}
	f.log = slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.store = notificationstore.NewStore(f.pool)
	f.mailpit = smtptest.StartMailpit(t, mailpitFlags...)
	var err error
	if f.mailer, err = smtp.New(smtp.Config{Host: f.mailpit.Host, Port: f.mailpit.Port, From: "BookWorm <orders@bookworm.test>", Timeout: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	f.cfg = notification.SenderConfig{BatchSize: 4, SendTimeout: 2 * time.Second, Lease: 3 * time.Second, MaxAttempts: 50,
		BackoffBase: 100 * time.Millisecond, BackoffMax: 300 * time.Millisecond}

	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "test-mail-" + hex.EncodeToString(b[:])
	cfg := rabbitmq.Config{
		URL: testAMQPURL(), ConnectionName: prefix, Exchange: prefix + ".events", QueuePrefix: prefix,
		ReconnectMinDelay: 20 * time.Millisecond, ReconnectMaxDelay: 500 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Queues: []rabbitmq.QueueConfig{{Context: "notification", EventTypes: notificationstore.OrderEventTypes(),
			RetryDelays: []time.Duration{50 * time.Millisecond}, MaxAttempts: 5}},
	}
	t.Cleanup(func() { deleteBrokerTopology(t, cfg) })
	f.broker = startTestBroker(t, cfg)
	runRelay(t, outbox.NewRelay(f.pool, f.broker, outbox.RelayConfig{BatchSize: 100, PollInterval: 50 * time.Millisecond, Logger: pgtest.DiscardLog()}))
	r, err := notification.NewRenderer(notification.Shop{Name: "BookWorm", BaseURL: "https://shop.example"})
	if err != nil {
		t.Fatal(err)
	}
	h := notificationstore.NewOrderEvents(f.pool, notification.NewNotifier(r, nil, f.stats), f.log)
	c, err := f.broker.Consume(context.Background(), "notification", func(ctx context.Context, m events.Message) error {
		err := h.Handle(ctx, m)
		if err == nil {
			f.handled.Add(1)
		}
		return err
	}, rabbitmq.ConsumeOptions{Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), relayWait)
		defer cancel()
		if err := c.Shutdown(ctx); err != nil {
			t.Errorf("consumer shutdown: %v", err)
		}
	})
	return f
}

// sender returns a sender over the flow's store and Mailpit.
func (f *mailFlow) sender() *notification.Sender {
	f.t.Helper()
	s, err := notification.NewSender(f.store, f.mailer, f.cfg, nil, f.log, f.stats)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// runSender runs a sender's loops (new mail and retries) until the test
// ends.
func (f *mailFlow) runSender(s *notification.Sender) {
	f.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.RunSender(ctx, 50*time.Millisecond) })
	wg.Go(func() { _ = s.RunRetries(ctx, 100*time.Millisecond) })
	f.t.Cleanup(func() { cancel(); wg.Wait() })
}

// publish writes ordering events to the outbox, as the ordering context's
// store does in the transaction of each change.
func (f *mailFlow) publish(evs ...proto.Message) {
	f.t.Helper()
	if err := enqueueIn(f.ctx, f.pool, false, evs...); err != nil {
		f.t.Fatal(err)
	}
}

// emails counts the email outbox's rows by status.
func (f *mailFlow) emails() map[string]int {
	f.t.Helper()
	rows, err := f.pool.Query(f.ctx, `SELECT status, count(*) FROM notification.emails GROUP BY status`)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			f.t.Fatal(err)
		}
		out[s] = n
	}
	return out
}

func (f *mailFlow) waitUntil(what string, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(relayWait)
	for !cond() {
		if time.Now().After(deadline) {
			f.t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settle waits a while and checks that Mailpit then holds exactly n
// messages: nothing more arrives late.
func (f *mailFlow) settle(n int) []smtptest.Summary {
	f.t.Helper()
	f.mailpit.WaitMessages(n, relayWait)
	time.Sleep(700 * time.Millisecond) // several sender and retry ticks
	msgs := f.mailpit.Messages()
	if len(msgs) != n {
		f.t.Fatalf("mailpit holds %d messages, want exactly %d", len(msgs), n)
	}
	return msgs
}

func eurMoney(minor int64) *typev1.Money {
	return &typev1.Money{CurrencyCode: "EUR", Units: minor / 100, Nanos: int32(minor%100) * 10_000_000}
}

// buyer is personal data that must reach the mail and never the logs.
type buyer struct{ email, name, street string }

func newBuyer(i int) buyer {
	tag := hex.EncodeToString([]byte{byte(i), byte(i >> 8)})
	return buyer{email: "reader" + tag + "@example.com", name: "Grace Hopper " + tag, street: tag + " Secret Lane"}
}

func orderPlaced(orderID string, b buyer) *orderingv1.OrderPlaced {
	return &orderingv1.OrderPlaced{
		OrderId: orderID, Version: 1, UserId: "user-" + b.email, BuyerEmail: b.email, BuyerName: b.name,
		Lines: []*orderingv1.OrderLine{
			{BookId: coreid.New(), Title: "The Left Hand of Darkness", Quantity: 2, UnitPrice: eurMoney(1250), LineTotal: eurMoney(2500)},
			{BookId: coreid.New(), Title: "Kindred & <Other> Stories", Quantity: 1, UnitPrice: eurMoney(899), LineTotal: eurMoney(899)},
		},
		Total:           eurMoney(3399),
		ShippingAddress: &orderingv1.Address{Name: b.name, Lines: []string{b.street}, City: "Arlington", PostalCode: "22201", CountryCode: "US"},
	}
}

func orderConfirmed(orderID string, version int64, b buyer) *orderingv1.OrderConfirmed {
	p := orderPlaced(orderID, b)
	return &orderingv1.OrderConfirmed{OrderId: orderID, Version: version, UserId: p.UserId, BuyerEmail: b.email, BuyerName: b.name,
		Lines: p.Lines, Total: p.Total}
}

// TestOrderEmailsFlow: the events of two checkouts travel for real and make
// exactly one email each: recipient, subject, both parts and the order's
// content as Mailpit received them. Then every event is delivered again by
// the broker, and the placement announced again under a new event id (the
// ordering sweeper does that): no further email. The logs of the run name
// orders and emails, never the buyer.
func TestOrderEmailsFlow(t *testing.T) {
	f := newMailFlow(t)
	f.runSender(f.sender())
	ada, bob := newBuyer(1), newBuyer(2)
	paid, declined := coreid.New(), coreid.New()
	// The placements first, as the saga's later events follow them only
	// after stock and payment. (Were a confirmation handled first, the
	// placement's email would be skipped as stale: see
	// TestLatePlacementMakesNoEmail.)
	f.publish(orderPlaced(paid, ada), orderPlaced(declined, bob))
	f.waitUntil("both placements are queued", func() bool { return f.stats.Stats().Queued == 2 })
	f.publish(orderConfirmed(paid, 4, ada))
	f.publish(&orderingv1.OrderFailed{OrderId: declined, Version: 3, UserId: "user-b", BuyerEmail: bob.email, BuyerName: bob.name,
		Failure: &orderingv1.OrderFailure{Reason: orderingv1.FailureReason_FAILURE_REASON_PAYMENT_DECLINED, Detail: "The card was declined."}})
	msgs := f.settle(4)

	bySubject := map[string]smtptest.Message{}
	for _, s := range msgs {
		m := f.mailpit.Message(s.ID)
		bySubject[m.Subject] = m
	}
	check := func(subject string, to buyer, inBoth ...string) {
		t.Helper()
		m, ok := bySubject[subject]
		if !ok {
			t.Fatalf("no email %q among %v", subject, keys(bySubject))
		}
		if len(m.To) != 1 || m.To[0].Address != to.email || m.To[0].Name != to.name {
			t.Errorf("%q to %+v, want %s", subject, m.To, to.email)
		}
		for _, s := range inBoth {
			if !strings.Contains(m.Text, s) {
				t.Errorf("%q: text part lacks %q:\n%s", subject, s, m.Text)
			}
			if !strings.Contains(m.HTML, s) {
				t.Errorf("%q: HTML part lacks %q:\n%s", subject, s, m.HTML)
			}
		}
	}
	ref := func(id string) string {
		s := strings.ReplaceAll(id, "-", "")
		return "#" + strings.ToUpper(s[len(s)-8:])
	}
	check("Your BookWorm order "+ref(paid)+" was received", ada, "The Left Hand of Darkness", "€12.50", "€25.00", "€33.99", paid)
	check("Your BookWorm order "+ref(paid)+" is confirmed", ada, "confirmed and paid", "€8.99", "€33.99", "https://shop.example/orders/"+paid)
	check("Your BookWorm order "+ref(declined)+" could not be completed", bob, "Your card was declined.", "Nothing was charged.")
	confirmed := bySubject["Your BookWorm order "+ref(paid)+" is confirmed"]
	if !strings.Contains(confirmed.HTML, "Kindred &amp; &lt;Other&gt; Stories") || !strings.Contains(confirmed.Text, "Kindred & <Other> Stories") {
		t.Errorf("the title in the parts: HTML\n%s\ntext\n%s", confirmed.HTML, confirmed.Text)
	}

	// Redelivery: every event again, as the broker redelivers after a lost
	// ack, and the placement under a new event id.
	var again []events.Message
	for _, r := range pgtest.Outbox(t, f.pool) {
		again = append(again, events.Message{ID: r.ID, Type: r.Type, Source: r.Source, Time: r.Time, ContentType: r.ContentType, Data: r.Data})
	}
	before := f.handled.Load()
	if _, err := f.broker.PublishBatch(f.ctx, again); err != nil {
		t.Fatal(err)
	}
	f.publish(orderPlaced(paid, ada))
	f.waitUntil("the copies are handled", func() bool { return f.handled.Load() >= before+int64(len(again))+1 })
	f.settle(4)
	if st := f.emails(); st["sent"] != 4 || len(st) != 1 {
		t.Fatalf("email outbox %v, want 4 sent", st)
	}
	if s := f.stats.Stats(); s.Queued != 4 || s.Sent != 4 {
		t.Fatalf("stats %+v", s)
	}

	logs := f.logs.String()
	if !strings.Contains(logs, paid) || !strings.Contains(logs, `"msg":"email sent"`) {
		t.Fatalf("the logs do not name the orders and emails:\n%s", logs)
	}
	for _, b := range []buyer{ada, bob} {
		for _, pii := range []string{b.email, b.name, b.street} {
			if strings.Contains(logs, pii) {
				t.Fatalf("the logs contain personal data %q:\n%s", pii, logs)
			}
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestOrderEmailsWaitWhileSMTPIsDown: checkouts while the SMTP server is
// down queue their mail (temporary failures, retried with back-off); once
// it is back, every email is delivered exactly once.
func TestOrderEmailsWaitWhileSMTPIsDown(t *testing.T) {
	f := newMailFlow(t)
	f.mailpit.Stop()
	f.runSender(f.sender())
	const n = 6
	for i := range n {
		f.publish(orderConfirmed(coreid.New(), 4, newBuyer(10+i)))
	}
	f.waitUntil("every email is queued and has failed at least once", func() bool {
		return f.emails()["pending"] == n && f.stats.Stats().Retried >= n
	})
	if st := f.emails(); st["sent"] != 0 {
		t.Fatalf("sent with the server down: %v", st)
	}
	f.mailpit.Start()
	msgs := f.settle(n)
	seen := map[string]bool{}
	for _, m := range msgs {
		if seen[m.MessageID] {
			t.Fatalf("Message-ID %s twice", m.MessageID)
		}
		seen[m.MessageID] = true
	}
	f.waitUntil("every email is marked sent", func() bool { return f.emails()["sent"] == n })
}

// TestCrashAfterSendingBeforeMarkingSent: a sender that dies after the SMTP
// server accepted an email and before the outbox recorded it: once the
// claim's lease is over the email is sent again, once, with the same
// Message-ID. The guarantee is at least once, with at most one extra copy
// per crash, recognisable by its Message-ID (the outbox row id).
func TestCrashAfterSendingBeforeMarkingSent(t *testing.T) {
	f := newMailFlow(t)
	f.cfg.Lease = 6 * time.Second // room for a slow machine between the claim and the check within it
	order := coreid.New()
	f.publish(orderConfirmed(order, 4, newBuyer(30)))
	f.waitUntil("the email is queued", func() bool { return f.emails()["pending"] == 1 })
	// The doomed sender: claims, sends, dies.
	claimed, err := f.store.Claim(f.ctx, notification.ClaimQuery{Now: time.Now().UTC(), Limit: 10, Lease: f.cfg.Lease})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claimed %d, %v", len(claimed), err)
	}
	if err := f.mailer.Send(f.ctx, claimed[0]); err != nil {
		t.Fatal(err)
	}
	f.mailpit.WaitMessages(1, relayWait)
	// Another replica's sender: nothing to do while the lease lasts, then
	// the email once more.
	s := f.sender()
	if res, err := s.SendDue(f.ctx, true); err != nil || res != (notification.Result{}) {
		t.Fatalf("within the lease: %+v, %v", res, err)
	}
	f.runSender(s)
	msgs := f.settle(2)
	if msgs[0].MessageID != msgs[1].MessageID || msgs[0].MessageID != f.mailer.MessageID(claimed[0].ID) {
		t.Fatalf("Message-IDs %q and %q, want both %q", msgs[0].MessageID, msgs[1].MessageID, f.mailer.MessageID(claimed[0].ID))
	}
	e, err := f.store.Email(f.ctx, claimed[0].ID)
	if err != nil || e.Status != notification.StatusSent || e.Attempts != 2 {
		t.Fatalf("email %+v, %v", e, err)
	}
}

// TestPermanentFailureIsNotRetried: the server refuses a mailbox with 550:
// that email is marked failed after one attempt and never tried again,
// while the others go out.
func TestPermanentFailureIsNotRetried(t *testing.T) {
	f := newMailFlow(t, "--smtp-allowed-recipients", `@example\.com$`)
	f.runSender(f.sender())
	good, bad := newBuyer(40), buyer{email: "nobody@unknown.test", name: "No Body", street: "Nowhere"}
	badOrder := coreid.New()
	f.publish(orderConfirmed(coreid.New(), 4, good))
	f.publish(orderConfirmed(badOrder, 4, bad))
	f.waitUntil("one sent, one failed", func() bool { st := f.emails(); return st["sent"] == 1 && st["failed"] == 1 })
	time.Sleep(time.Second) // many retry ticks
	emails, err := f.store.Emails(f.ctx, badOrder)
	if err != nil || len(emails) != 1 {
		t.Fatalf("emails %v, %v", emails, err)
	}
	if e := emails[0]; e.Status != notification.StatusFailed || e.Attempts != 1 || !strings.Contains(e.LastError, "550") ||
		strings.Contains(e.LastError, bad.email) {
		t.Fatalf("refused email %+v", e)
	}
	msgs := f.settle(1)
	if msgs[0].To[0].Address != good.email {
		t.Fatalf("delivered to %+v", msgs[0].To)
	}
	if s := f.stats.Stats(); s.Failed != 1 || s.Retried != 0 {
		t.Fatalf("stats %+v", s)
	}
	if strings.Contains(f.logs.String(), bad.email) {
		t.Fatal("the logs contain the refused address")
	}
}

// TestSendersNeverSendOneEmailTwice: three senders (replicas) drain one
// outbox together; every email reaches the server exactly once.
func TestSendersNeverSendOneEmailTwice(t *testing.T) {
	f := newMailFlow(t)
	const n = 24
	for i := range n {
		f.publish(orderConfirmed(coreid.New(), 4, newBuyer(100+i)))
	}
	f.waitUntil("every email is queued", func() bool { return f.emails()["pending"] == n })
	for range 3 {
		f.runSender(f.sender())
	}
	msgs := f.settle(n)
	seen := map[string]bool{}
	for _, m := range msgs {
		if seen[m.MessageID] {
			t.Fatalf("Message-ID %s sent twice", m.MessageID)
		}
		seen[m.MessageID] = true
	}
	if s := f.stats.Stats(); s.Sent != n {
		t.Fatalf("stats %+v", s)
	}
}

// TestLatePlacementMakesNoEmail: events travel in no guaranteed order. A
// confirmation handled before its order's placement is mailed; the late
// placement is not (the buyer knows better already).
func TestLatePlacementMakesNoEmail(t *testing.T) {
	f := newMailFlow(t)
	f.runSender(f.sender())
	order, b := coreid.New(), newBuyer(50)
	f.publish(orderConfirmed(order, 4, b))
	f.waitUntil("the confirmation is queued", func() bool { return f.stats.Stats().Queued == 1 })
	before := f.handled.Load()
	f.publish(orderPlaced(order, b))
	f.waitUntil("the placement is handled", func() bool { return f.handled.Load() > before })
	msgs := f.settle(1)
	if m := f.mailpit.Message(msgs[0].ID); !strings.Contains(m.Subject, "is confirmed") {
		t.Fatalf("the one email is %q", m.Subject)
	}
}
