package notification_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/money"
	"github.com/bookworm-store/bookworm/internal/core/notification"
	"github.com/bookworm-store/bookworm/internal/core/notification/notificationtest"
)

func mustMoney(t *testing.T, cur string, minor int64) money.Money {
	t.Helper()
	m, err := money.New(cur, minor)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestFormatMoney(t *testing.T) {
	cases := []struct {
		cur   string
		minor int64
		want  string
	}{
		{"EUR", 1299, "€12.99"},
		{"EUR", 5, "€0.05"},
		{"EUR", 123456789, "€1,234,567.89"},
		{"EUR", -250, "-€2.50"},
		{"USD", 100000, "$1,000.00"},
		{"GBP", 99, "£0.99"},
		{"JPY", 1200, "¥1,200"},
		{"KWD", 12500, "12.500 KWD"},
		{"CHF", 1050, "10.50 CHF"},
	}
	for _, c := range cases {
		if got := notification.FormatMoney(mustMoney(t, c.cur, c.minor)); got != c.want {
			t.Errorf("%d %s: %q, want %q", c.minor, c.cur, got, c.want)
		}
	}
	if got := notification.FormatMoney(money.Money{}); got != "" {
		t.Errorf("zero: %q", got)
	}
}

func TestDecide(t *testing.T) {
	ada := notification.Buyer{Email: "ada@example.com", Name: "Ada"}
	notice := func(k notification.Kind, v int64, b notification.Buyer) notification.Notice {
		return notification.Notice{Kind: k, OrderID: "o1", Version: v, Buyer: b}
	}
	cases := []struct {
		name     string
		st       notification.OrderState
		n        notification.Notice
		wantTo   notification.Buyer
		wantSkip notification.Skip
		wantErr  error
		wantSt   notification.OrderState
	}{
		{"first notice mails its buyer", notification.OrderState{OrderID: "o1"}, notice(notification.KindPlaced, 1, ada),
			ada, notification.SkipNone, nil, notification.OrderState{OrderID: "o1", Buyer: ada, MailedVersion: 1}},
		{"the same version again is seen", notification.OrderState{OrderID: "o1", Buyer: ada, MailedVersion: 1}, notice(notification.KindPlaced, 1, ada),
			notification.Buyer{}, notification.SkipSeen, nil, notification.OrderState{OrderID: "o1", Buyer: ada, MailedVersion: 1}},
		{"an older version after a newer one is seen", notification.OrderState{OrderID: "o1", Buyer: ada, MailedVersion: 3}, notice(notification.KindPlaced, 1, ada),
			notification.Buyer{}, notification.SkipSeen, nil, notification.OrderState{OrderID: "o1", Buyer: ada, MailedVersion: 3}},
		{"completed mails the remembered buyer", notification.OrderState{OrderID: "o1", Buyer: ada, MailedVersion: 4}, notice(notification.KindCompleted, 5, notification.Buyer{}),
			ada, notification.SkipNone, nil, notification.OrderState{OrderID: "o1", Buyer: ada, MailedVersion: 5}},
		{"completed before any buyer is known waits", notification.OrderState{OrderID: "o1"}, notice(notification.KindCompleted, 5, notification.Buyer{}),
			notification.Buyer{}, notification.SkipNone, notification.ErrNoRecipient, notification.OrderState{OrderID: "o1"}},
		{"a buyer without an address mails nothing and is not retried", notification.OrderState{OrderID: "o1"}, notice(notification.KindPlaced, 1, notification.Buyer{Name: "Ada"}),
			notification.Buyer{}, notification.SkipNoAddress, nil, notification.OrderState{OrderID: "o1", NoAddress: true}},
		{"completed for a buyer without an address is done", notification.OrderState{OrderID: "o1", NoAddress: true}, notice(notification.KindCompleted, 5, notification.Buyer{}),
			notification.Buyer{}, notification.SkipNoAddress, nil, notification.OrderState{OrderID: "o1", NoAddress: true}},
		{"an address learned later mails again", notification.OrderState{OrderID: "o1", NoAddress: true}, notice(notification.KindShipped, 4, ada),
			ada, notification.SkipNone, nil, notification.OrderState{OrderID: "o1", Buyer: ada, MailedVersion: 4}},
		{"a bad address mails nothing", notification.OrderState{OrderID: "o1"}, notice(notification.KindPlaced, 1, notification.Buyer{Email: "not an address"}),
			notification.Buyer{}, notification.SkipBadAddress, nil, notification.OrderState{OrderID: "o1", Buyer: notification.Buyer{Email: "not an address"}}},
		{"a header in the address mails nothing", notification.OrderState{OrderID: "o1"}, notice(notification.KindPlaced, 1, notification.Buyer{Email: "a@example.com\r\nBcc: b@example.com"}),
			notification.Buyer{}, notification.SkipBadAddress, nil, notification.OrderState{OrderID: "o1", Buyer: notification.Buyer{Email: "a@example.com\r\nBcc: b@example.com"}}},
		{"an invalid notice is refused", notification.OrderState{OrderID: "o1"}, notice(notification.KindUnspecified, 1, ada),
			notification.Buyer{}, notification.SkipNone, notification.ErrInvalidNotice, notification.OrderState{OrderID: "o1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := c.st
			to, skip, err := notification.Decide(&st, c.n)
			if !errors.Is(err, c.wantErr) || (err != nil) != (c.wantErr != nil) {
				t.Fatalf("err %v, want %v", err, c.wantErr)
			}
			if to != c.wantTo || skip != c.wantSkip || st != c.wantSt {
				t.Fatalf("got %+v, %v, %+v; want %+v, %v, %+v", to, skip, st, c.wantTo, c.wantSkip, c.wantSt)
			}
		})
	}
}

func renderer(t *testing.T) *notification.Renderer {
	t.Helper()
	r, err := notification.NewRenderer(notification.Shop{Name: "BookWorm", BaseURL: "https://shop.example/app/"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func fullNotice(t *testing.T, k notification.Kind) notification.Notice {
	return notification.Notice{
		Kind: k, OrderID: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", Version: 2,
		Buyer: notification.Buyer{Email: "ada@example.com", Name: "Ada <b>Lovelace</b>"},
		Lines: []notification.Line{
			{Title: `Tom & Jerry <script>alert("x")</script>`, Quantity: 2, UnitPrice: mustMoney(t, "EUR", 1250), LineTotal: mustMoney(t, "EUR", 2500)},
			{Title: "Dune", Quantity: 1, UnitPrice: mustMoney(t, "EUR", 123499), LineTotal: mustMoney(t, "EUR", 123499)},
		},
		Total:  mustMoney(t, "EUR", 125999),
		Reason: notification.ReasonPaymentDeclined, Detail: "The card was declined by the issuer.",
		Refund: mustMoney(t, "EUR", 2500), CancelReason: "changed my mind", Actor: notification.ActorCustomer,
		Tracking: "TRACK-123",
	}
}

func TestRenderEveryKind(t *testing.T) {
	r := renderer(t)
	want := map[notification.Kind]struct {
		subject string
		parts   []string // in both parts
	}{
		notification.KindPlaced:    {"Your BookWorm order #2E3F4A5B was received", []string{"€1,234.99", "€25.00", "€12.50", "€1,259.99", "Dune"}},
		notification.KindConfirmed: {"Your BookWorm order #2E3F4A5B is confirmed", []string{"confirmed and paid", "€1,259.99", "Dune"}},
		notification.KindFailed:    {"Your BookWorm order #2E3F4A5B could not be completed", []string{"Your card was declined.", "The card was declined by the issuer.", "Nothing was charged."}},
		notification.KindCancelled: {"Your BookWorm order #2E3F4A5B was cancelled", []string{"You cancelled your order", "changed my mind", "refunded", "€25.00"}},
		notification.KindShipped:   {"Your BookWorm order #2E3F4A5B is on its way", []string{"TRACK-123"}},
		notification.KindCompleted: {"Your BookWorm order #2E3F4A5B was delivered", []string{"delivered"}},
	}
	for _, k := range notification.Kinds() {
		t.Run(k.String(), func(t *testing.T) {
			n := fullNotice(t, k)
			c, err := r.Render(n, n.Buyer)
			if err != nil {
				t.Fatal(err)
			}
			w := want[k]
			if c.Subject != w.subject {
				t.Errorf("subject %q, want %q", c.Subject, w.subject)
			}
			link := "https://shop.example/app/orders/" + n.OrderID
			for _, s := range append(w.parts, n.OrderID, link, "BookWorm") {
				if !strings.Contains(c.Text, s) {
					t.Errorf("text part lacks %q:\n%s", s, c.Text)
				}
				if !strings.Contains(c.HTML, s) {
					t.Errorf("HTML part lacks %q:\n%s", s, c.HTML)
				}
			}
			// Names and titles are escaped in HTML, plain in text.
			if strings.Contains(c.HTML, "<b>Lovelace") || strings.Contains(c.HTML, "<script>") {
				t.Errorf("HTML part has unescaped markup:\n%s", c.HTML)
			}
			if !strings.Contains(c.HTML, "Ada &lt;b&gt;Lovelace&lt;/b&gt;") {
				t.Errorf("HTML part lacks the escaped name:\n%s", c.HTML)
			}
			if !strings.Contains(c.Text, "Hello Ada <b>Lovelace</b>,") {
				t.Errorf("text part lacks the plain name:\n%s", c.Text)
			}
			if k == notification.KindPlaced {
				if !strings.Contains(c.HTML, "Tom &amp; Jerry &lt;script&gt;") || !strings.Contains(c.Text, `2 x Tom & Jerry <script>alert("x")</script>`) {
					t.Errorf("title: HTML\n%s\ntext\n%s", c.HTML, c.Text)
				}
			}
		})
	}
}

func TestRenderKeepsLineBreaksOutOfTheSubjectAndLines(t *testing.T) {
	r := renderer(t)
	n := fullNotice(t, notification.KindCancelled)
	n.CancelReason = "a\r\nBcc: evil@example.com"
	n.Buyer.Name = "Ada\r\nX-Evil: 1"
	c, err := r.Render(n, n.Buyer)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(c.Subject, "\r\n") || strings.Contains(c.Text, "\nBcc:") || strings.Contains(c.Text, "\nX-Evil") {
		t.Fatalf("line break kept:\n%q\n%s", c.Subject, c.Text)
	}
}

func TestRenderCancelledWithoutRefundAndFailedWithoutKnownReason(t *testing.T) {
	r := renderer(t)
	n := fullNotice(t, notification.KindCancelled)
	n.Refund, n.Actor, n.CancelReason = money.Money{}, notification.ActorAdmin, ""
	c, err := r.Render(n, n.Buyer)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Our team cancelled your order.", "Nothing was charged."} {
		if !strings.Contains(c.Text, s) || !strings.Contains(c.HTML, s) {
			t.Errorf("lacks %q:\n%s", s, c.Text)
		}
	}
	if strings.Contains(c.Text, "refunded") || strings.Contains(c.Text, "Reason:") {
		t.Errorf("mentions a refund or reason:\n%s", c.Text)
	}
	f := fullNotice(t, notification.KindFailed)
	f.Reason, f.Detail = notification.ReasonUnspecified, ""
	c, err = r.Render(f, f.Buyer)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.Text, "Your order could not be completed.") {
		t.Errorf("failed without reason:\n%s", c.Text)
	}
}

func TestNewRendererRefusesBadShops(t *testing.T) {
	for _, s := range []notification.Shop{
		{Name: "", BaseURL: "https://x.example"},
		{Name: "B", BaseURL: "ftp://x.example"},
		{Name: "B", BaseURL: "/relative"},
		{Name: "B", BaseURL: "javascript:alert(1)"},
	} {
		if _, err := notification.NewRenderer(s); err == nil {
			t.Errorf("%+v accepted", s)
		}
	}
}

// fakeMailer records deliveries and fails as told.
type fakeMailer struct {
	mu   sync.Mutex
	sent []notification.Email
	fail func(e notification.Email) error
}

func (m *fakeMailer) Send(_ context.Context, e notification.Email) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		if err := m.fail(e); err != nil {
			return err
		}
	}
	m.sent = append(m.sent, e)
	return nil
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestNotifierQueuesOnceAndSkipsStaleNotices(t *testing.T) {
	ctx := context.Background()
	store := notificationtest.NewMemory()
	stats := &notification.Counters{}
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	nf := notification.NewNotifier(renderer(t), clk.now, stats)
	order := id.New()
	n := fullNotice(t, notification.KindPlaced)
	n.OrderID, n.Version = order, 1
	out, err := nf.Notify(ctx, store, n)
	if err != nil || !out.Queued || out.EmailID == "" {
		t.Fatalf("placed: %+v, %v", out, err)
	}
	// The sweeper announces the placement again (same version), the broker
	// redelivers it: nothing more.
	for range 2 {
		if out, err := nf.Notify(ctx, store, n); err != nil || out.Queued || out.Skip != notification.SkipSeen {
			t.Fatalf("placed again: %+v, %v", out, err)
		}
	}
	conf := fullNotice(t, notification.KindConfirmed)
	conf.OrderID, conf.Version = order, 3
	if out, err := nf.Notify(ctx, store, conf); err != nil || !out.Queued {
		t.Fatalf("confirmed: %+v, %v", out, err)
	}
	// Completed carries no buyer: the remembered one gets it.
	done := notification.Notice{Kind: notification.KindCompleted, OrderID: order, Version: 5}
	if out, err := nf.Notify(ctx, store, done); err != nil || !out.Queued {
		t.Fatalf("completed: %+v, %v", out, err)
	}
	// Shipped (version 4) arrives after completed (5): stale.
	ship := fullNotice(t, notification.KindShipped)
	ship.OrderID, ship.Version = order, 4
	if out, err := nf.Notify(ctx, store, ship); err != nil || out.Queued {
		t.Fatalf("late shipped: %+v, %v", out, err)
	}
	emails := store.Emails()
	if len(emails) != 3 {
		t.Fatalf("%d emails, want placed, confirmed, completed", len(emails))
	}
	for i, k := range []notification.Kind{notification.KindPlaced, notification.KindConfirmed, notification.KindCompleted} {
		e := emails[i]
		if e.Kind != k || e.To.Email != "ada@example.com" || e.Status != notification.StatusPending || !e.CreateTime.Equal(clk.now()) || e.Subject == "" {
			t.Errorf("email %d: %+v", i, e)
		}
	}
	if s := stats.Stats(); s.Queued != 3 {
		t.Errorf("queued counter %d", s.Queued)
	}
	// Completed of an order never heard of: an error to retry.
	if _, err := nf.Notify(ctx, store, notification.Notice{Kind: notification.KindCompleted, OrderID: id.New(), Version: 6}); !errors.Is(err, notification.ErrNoRecipient) {
		t.Fatalf("unknown order: %v", err)
	}
}

func queueOne(t *testing.T, store *notificationtest.Memory, at time.Time) notification.Email {
	t.Helper()
	e := notificationtest.NewEmail(id.New(), 1, at)
	if _, err := store.UpdateOrder(context.Background(), e.OrderID, func(*notification.OrderState) (*notification.Email, error) { return e, nil }); err != nil {
		t.Fatal(err)
	}
	return *e
}

func TestSenderSendsRetriesWithBackoffAndGivesUp(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	store := notificationtest.NewMemory()
	ok := queueOne(t, store, clk.now())
	flaky := queueOne(t, store, clk.now())
	bad := queueOne(t, store, clk.now())
	down := queueOne(t, store, clk.now())
	flakyLeft := 2
	m := &fakeMailer{fail: func(e notification.Email) error {
		switch e.ID {
		case flaky.ID:
			if flakyLeft > 0 {
				flakyLeft--
				return errors.New("421 4.3.2 try again later")
			}
		case bad.ID:
			return notification.Permanent(errors.New("550 5.1.1 no such user"))
		case down.ID:
			return errors.New("dial tcp: connection refused")
		}
		return nil
	}}
	stats := &notification.Counters{}
	cfg := notification.SenderConfig{MaxAttempts: 4, BackoffBase: time.Minute, BackoffMax: 3 * time.Minute, SendTimeout: time.Second, Lease: time.Minute}
	s, err := notification.NewSender(store, m, cfg, clk.now, nil, stats)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.SendDue(ctx, false)
	if err != nil || res != (notification.Result{Sent: 1, Retried: 2, Failed: 1}) {
		t.Fatalf("first pass: %+v, %v", res, err)
	}
	// Nothing new; the retries wait for their back-off (1 minute).
	if res, _ := s.SendDue(ctx, false); res != (notification.Result{}) {
		t.Fatalf("second pass of new emails: %+v", res)
	}
	clk.add(59 * time.Second)
	if res, _ := s.SendDue(ctx, true); res != (notification.Result{}) {
		t.Fatalf("retries before the back-off: %+v", res)
	}
	clk.add(time.Second)
	if res, _ := s.SendDue(ctx, true); res != (notification.Result{Retried: 2}) {
		t.Fatalf("first retries: %+v", res) // attempt 2 of both fails; back-off now 2 minutes
	}
	clk.add(time.Minute)
	if res, _ := s.SendDue(ctx, true); res != (notification.Result{}) {
		t.Fatalf("retry before the doubled back-off: %+v", res)
	}
	clk.add(time.Minute)
	if res, _ := s.SendDue(ctx, true); res != (notification.Result{Sent: 1, Retried: 1}) {
		t.Fatalf("second retries: %+v", res) // flaky succeeds at attempt 3; down fails a third time
	}
	clk.add(3 * time.Minute) // the back-off's cap
	if res, _ := s.SendDue(ctx, true); res != (notification.Result{Failed: 1}) {
		t.Fatalf("last retry: %+v", res) // down's 4th attempt: given up
	}
	clk.add(24 * time.Hour)
	if res, _ := s.SendDue(ctx, true); res != (notification.Result{}) {
		t.Fatalf("after giving up: %+v", res)
	}
	statuses := map[string]notification.Status{}
	for _, e := range store.Emails() {
		statuses[e.ID] = e.Status
	}
	want := map[string]notification.Status{ok.ID: notification.StatusSent, flaky.ID: notification.StatusSent, bad.ID: notification.StatusFailed, down.ID: notification.StatusFailed}
	for id, st := range want {
		if statuses[id] != st {
			t.Errorf("email %s is %v, want %v", id, statuses[id], st)
		}
	}
	var badAttempts int
	for _, e := range store.Emails() {
		if e.ID == bad.ID {
			badAttempts = e.Attempts
		}
	}
	if badAttempts != 1 {
		t.Errorf("the permanent failure was tried %d times", badAttempts)
	}
	if len(m.sent) != 2 {
		t.Errorf("%d deliveries, want 2", len(m.sent))
	}
	if st := stats.Stats(); st.Sent != 2 || st.Retried != 5 || st.Failed != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestBackoff(t *testing.T) {
	c := notification.SenderConfig{BackoffBase: time.Minute, BackoffMax: time.Hour}
	for attempts, want := range map[int]time.Duration{1: time.Minute, 2: 2 * time.Minute, 3: 4 * time.Minute, 7: time.Hour, 100: time.Hour} {
		if got := c.Backoff(attempts); got != want {
			t.Errorf("Backoff(%d) = %v, want %v", attempts, got, want)
		}
	}
	if err := (notification.SenderConfig{SendTimeout: time.Minute, Lease: time.Minute}).Validate(); err == nil {
		t.Error("a lease no longer than the send timeout was accepted")
	}
}

func TestCleanUpAndMeasure(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)}
	store := notificationtest.NewMemory()
	old := queueOne(t, store, clk.now().Add(-72*time.Hour))
	fresh := queueOne(t, store, clk.now())
	queueOne(t, store, clk.now().Add(-time.Hour)) // stays pending
	stats := &notification.Counters{}
	s, err := notification.NewSender(store, &fakeMailer{}, notification.SenderConfig{Retention: 48 * time.Hour}, clk.now, nil, stats)
	if err != nil {
		t.Fatal(err)
	}
	claimed, _ := store.Claim(ctx, notification.ClaimQuery{Now: clk.now(), Limit: 10, Lease: time.Minute})
	if len(claimed) != 3 {
		t.Fatalf("claimed %d", len(claimed))
	}
	_ = store.MarkSent(ctx, old.ID, clk.now().Add(-72*time.Hour))
	_ = store.MarkSent(ctx, fresh.ID, clk.now())
	deleted, _, err := s.CleanUp(ctx)
	if err != nil || deleted != 1 {
		t.Fatalf("deleted %d, %v", deleted, err)
	}
	if err := s.Measure(ctx); err != nil {
		t.Fatal(err)
	}
	if st := stats.Stats(); st.Pending != 1 || st.OldestPending != time.Hour {
		t.Fatalf("stats %+v", st)
	}
}

// slowMailer takes step of the clock for every send.
type slowMailer struct {
	clk  *clock
	step time.Duration
	sent int
}

func (m *slowMailer) Send(context.Context, notification.Email) error {
	m.clk.add(m.step)
	m.sent++
	return nil
}

// TestSenderStopsBeforeTheLeaseEnds: a batch whose sends take longer than
// the lease is not finished by its sender: what is left is sent by
// whichever sender claims it after the lease, never by two at once.
func TestSenderStopsBeforeTheLeaseEnds(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	store := notificationtest.NewMemory()
	for range 5 {
		queueOne(t, store, clk.now())
	}
	m := &slowMailer{clk: clk, step: time.Second}
	s, err := notification.NewSender(store, m, notification.SenderConfig{BatchSize: 5, SendTimeout: time.Second, Lease: 3 * time.Second}, clk.now, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.SendDue(ctx, false)
	if err != nil || res.Sent != 2 || m.sent != 2 {
		t.Fatalf("first pass: %+v (%d sent), %v; want 2 within a 3s lease of 1s sends", res, m.sent, err)
	}
	if res, _ := s.SendDue(ctx, true); res != (notification.Result{}) {
		t.Fatalf("the rest was claimed again within the lease: %+v", res)
	}
	clk.add(2 * time.Second) // the lease is over
	if res, _ := s.SendDue(ctx, true); res.Sent != 2 {
		t.Fatalf("after the lease: %+v", res)
	}
	clk.add(3 * time.Second)
	if res, _ := s.SendDue(ctx, true); res.Sent != 1 {
		t.Fatalf("the last one: %+v", res)
	}
	if m.sent != 5 {
		t.Fatalf("%d sends of 5 emails", m.sent)
	}
}
