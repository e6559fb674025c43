package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres/outbox"
	"github.com/bookworm-store/bookworm/internal/adapters/smtp/smtptest"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	orderingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/ordering/v1"
	typev1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/type/v1"
)

// mailWait bounds the waits for mail to arrive; never an assertion about
// speed.
const mailWait = 60 * time.Second

// mailServer is a server of the test's own whose emails go to a Mailpit of
// its own: its own database and its own exchange and queues, so that no
// other server of the run consumes its events.
type mailServer struct {
	*server
	mailpit *smtptest.Mailpit
	dbURL   string
}

// startMailServer starts Mailpit and a server sending to it, with the
// mail loops ticking fast, plus env; both stop at the end of the test.
func startMailServer(t *testing.T, name string, env ...string) *mailServer {
	t.Helper()
	mp := smtptest.StartMailpit(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "e2e-mail-" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), eventsWait)
		defer cancel()
		if err := mq.DeleteTopology(ctx, prefix, prefix+".events"); err != nil {
			t.Logf("deleting the test's queues: %v", err)
		}
	})
	dbURL := newDatabase(t)
	env = append([]string{
		"BOOKWORM_AMQP_EXCHANGE=" + prefix + ".events",
		"BOOKWORM_AMQP_QUEUE_PREFIX=" + prefix,
		"BOOKWORM_SMTP_URL=smtp://" + mp.SMTPAddr,
		"BOOKWORM_SHOP_URL=https://shop.example",
		"BOOKWORM_MAIL_SEND_INTERVAL=100ms",
		"BOOKWORM_MAIL_RETRY_INTERVAL=200ms",
		"BOOKWORM_MAIL_BACKOFF=100ms",
	}, env...)
	// amqpEnv (in startServer) names the run's exchange first; these come
	// later and win.
	s, err := startServer(context.Background(), serverBin, dbURL, filepath.Join(serverTmp, name+".log"), env...)
	if err != nil {
		if s != nil {
			s.stop()
			s.dumpLogs()
		}
		t.Fatalf("starting the %s server: %v", name, err)
	}
	t.Cleanup(func() {
		select {
		case <-s.done:
			return // stopped by the test
		default:
		}
		if err := s.stop(); err != nil {
			t.Errorf("%s server: %v", name, err)
			s.dumpLogs()
		}
	})
	return &mailServer{server: s, mailpit: mp, dbURL: dbURL}
}

// enqueue writes ordering events into the server's transactional outbox,
// as the ordering context's store does: the server's relay publishes them
// and its notification consumer takes them from its queue.
func (m *mailServer) enqueue(t *testing.T, evs ...proto.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, m.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if err := outbox.Enqueue(ctx, tx, "ordering", evs...); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// metric returns the value of an unlabelled metric the server exports.
func (m *mailServer) metric(t *testing.T, name string) float64 {
	t.Helper()
	res, err := http.Get("http://" + m.metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func eurAmount(minor int64) *typev1.Money {
	return &typev1.Money{CurrencyCode: "EUR", Units: minor / 100, Nanos: int32(minor%100) * 10_000_000}
}

// TestOrderEmailsFromTheServer: the server binary, serving every context,
// turns ordering events in its outbox into emails in Mailpit (relay,
// RabbitMQ, the notification consumer, the email outbox, the sender, SMTP),
// exports the email metrics, and logs the orders and emails it handles
// without the buyer's address, name or street.
func TestOrderEmailsFromTheServer(t *testing.T) {
	m := startMailServer(t, "mail")
	order := coreid.New()
	const email, name, street = "grace.e2e@example.com", "Grace E2E Hopper", "42 Confidential Road"
	lines := []*orderingv1.OrderLine{{BookId: coreid.New(), Title: "A Wizard of Earthsea", Quantity: 3, UnitPrice: eurAmount(1099), LineTotal: eurAmount(3297)}}
	m.enqueue(t, &orderingv1.OrderPlaced{OrderId: order, Version: 1, UserId: "grace", BuyerEmail: email, BuyerName: name,
		Lines: lines, Total: eurAmount(3297),
		ShippingAddress: &orderingv1.Address{Name: name, Lines: []string{street}, City: "Arlington", PostalCode: "22201", CountryCode: "US"}})
	m.mailpit.WaitMessages(1, mailWait)
	m.enqueue(t, &orderingv1.OrderConfirmed{OrderId: order, Version: 4, UserId: "grace", BuyerEmail: email, BuyerName: name,
		Lines: lines, Total: eurAmount(3297)})
	msgs := m.mailpit.WaitMessages(2, mailWait)
	time.Sleep(time.Second) // a few sender ticks: nothing more arrives
	if n := len(m.mailpit.Messages()); n != 2 {
		t.Fatalf("%d emails, want 2", n)
	}
	confirmed := m.mailpit.Message(msgs[0].ID) // newest first
	if len(confirmed.To) != 1 || confirmed.To[0].Address != email || !strings.Contains(confirmed.Subject, "is confirmed") {
		t.Fatalf("the confirmation: to %+v, subject %q", confirmed.To, confirmed.Subject)
	}
	for _, s := range []string{"A Wizard of Earthsea", "€10.99", "€32.97", "https://shop.example/orders/" + order} {
		if !strings.Contains(confirmed.Text, s) || !strings.Contains(confirmed.HTML, s) {
			t.Errorf("the confirmation lacks %q:\ntext %s\nhtml %s", s, confirmed.Text, confirmed.HTML)
		}
	}
	deadline := time.Now().Add(mailWait)
	for m.metric(t, "bookworm_email_sent_total") != 2 || m.metric(t, "bookworm_email_queued_total") != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("metrics: sent %v, queued %v", m.metric(t, "bookworm_email_sent_total"), m.metric(t, "bookworm_email_queued_total"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := m.stop(); err != nil {
		t.Fatal(err)
	}
	logs, err := os.ReadFile(m.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logs), order) || !strings.Contains(string(logs), `"msg":"email sent"`) {
		t.Fatalf("the log does not name the order or the sending:\n%s", logs)
	}
	for _, pii := range []string{email, name, street, "Confidential"} {
		if strings.Contains(string(logs), pii) {
			t.Fatalf("the server logged personal data %q", pii)
		}
	}
}
