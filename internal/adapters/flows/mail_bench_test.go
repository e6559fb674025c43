package flows

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres/notificationstore"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	"github.com/bookworm-store/bookworm/internal/adapters/smtp"
	"github.com/bookworm-store/bookworm/internal/adapters/smtp/smtptest"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/notification"
)

// BenchmarkMailSender measures how fast senders drain the email outbox into
// a real SMTP server (Mailpit on loopback, one connection per email):
//
//	go test -run '^$' -bench MailSender -benchtime 3x ./internal/adapters/flows
func BenchmarkMailSender(b *testing.B) {
	const emails = 300
	for _, senders := range []int{1, 3} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			mp := smtptest.StartMailpit(b)
			mailer, err := smtp.New(smtp.Config{Host: mp.Host, Port: mp.Port, From: "BookWorm <orders@bookworm.test>"})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			var total time.Duration
			for range b.N {
				b.StopTimer()
				store := notificationstore.NewStore(pgtest.NewPool(b))
				for range emails {
					e := &notification.Email{ID: coreid.New(), OrderID: coreid.New(), Kind: notification.KindConfirmed, Version: 1,
						To:      notification.Buyer{Email: "reader@example.com", Name: "Reader"},
						Content: notification.Content{Subject: "Your order is confirmed", Text: "Hello,\n", HTML: "<p>Hello,</p>"},
						Status:  notification.StatusPending, CreateTime: time.Now().UTC(), NextAttemptTime: time.Now().UTC()}
					if _, err := store.UpdateOrder(ctx, e.OrderID, func(*notification.OrderState) (*notification.Email, error) { return e, nil }); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				start := time.Now()
				var wg sync.WaitGroup
				for range senders {
					s, err := notification.NewSender(store, mailer, notification.SenderConfig{}, nil, nil, nil)
					if err != nil {
						b.Fatal(err)
					}
					wg.Go(func() {
						if _, err := s.SendDue(ctx, false); err != nil {
							b.Error(err)
						}
					})
				}
				wg.Wait()
				total += time.Since(start)
			}
			b.ReportMetric(float64(emails*b.N)/total.Seconds(), "emails/s")
		})
	}
}
