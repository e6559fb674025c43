package notificationtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/notification"
)

// t0 is the suite's clock: times are passed to the ports, never read.
var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// NewEmail returns a pending email for (orderID, version), due and
// created at at.
func NewEmail(orderID string, version int64, at time.Time) *notification.Email {
	return &notification.Email{
		ID: id.New(), OrderID: orderID, Kind: notification.KindConfirmed, Version: version,
		To:      notification.Buyer{Email: "ada@example.com", Name: "Ada <Lovelace> & Co"},
		Content: notification.Content{Subject: "Subject é", Text: "text part\n", HTML: "<p>html part</p>"},
		Status:  notification.StatusPending, CreateTime: at, NextAttemptTime: at,
	}
}

// queue queues e as the decision about its order.
func queue(t *testing.T, s Store, e *notification.Email) bool {
	t.Helper()
	queued, err := s.UpdateOrder(context.Background(), e.OrderID, func(st *notification.OrderState) (*notification.Email, error) {
		st.Buyer, st.MailedVersion = e.To, e.Version
		return e, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return queued
}

func claim(t *testing.T, s Store, now time.Time, retries bool, limit int) []notification.Email {
	t.Helper()
	got, err := s.Claim(context.Background(), notification.ClaimQuery{Now: now, Retries: retries, Limit: limit, Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func ids(es []notification.Email) map[string]bool {
	m := map[string]bool{}
	for _, e := range es {
		m[e.ID] = true
	}
	return m
}

// Run runs the contract of notification.Queue and notification.Outbox on
// the stores newStore returns (each test gets an empty one).
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()

	t.Run("UpdateOrder queues once per order version and keeps the state", func(t *testing.T) {
		s := newStore(t)
		order := id.New()
		e := NewEmail(order, 1, t0)
		var seen notification.OrderState
		queued, err := s.UpdateOrder(ctx, order, func(st *notification.OrderState) (*notification.Email, error) {
			seen = *st
			st.Buyer, st.MailedVersion = e.To, 1
			return e, nil
		})
		if err != nil || !queued {
			t.Fatalf("first: queued %v, %v", queued, err)
		}
		if seen != (notification.OrderState{OrderID: order}) {
			t.Fatalf("a new order's state is %+v", seen)
		}
		again := NewEmail(order, 1, t0) // another id, same order version
		queued, err = s.UpdateOrder(ctx, order, func(st *notification.OrderState) (*notification.Email, error) {
			seen = *st
			return again, nil
		})
		if err != nil || queued {
			t.Fatalf("same version again: queued %v, %v", queued, err)
		}
		if seen.Buyer != e.To || seen.MailedVersion != 1 || seen.OrderID != order {
			t.Fatalf("stored state %+v", seen)
		}
		got := claim(t, s, t0, false, 10)
		if len(got) != 1 {
			t.Fatalf("claimed %d emails, want 1", len(got))
		}
		g := got[0]
		if g.ID != e.ID || g.OrderID != order || g.Kind != e.Kind || g.Version != 1 || g.To != e.To || g.Content != e.Content ||
			g.Attempts != 1 || g.Status != notification.StatusPending || !g.CreateTime.Equal(t0) {
			t.Fatalf("claimed %+v\nqueued  %+v", g, *e)
		}
	})

	t.Run("UpdateOrder saves nothing when decide fails, and the state alone when it mails nothing", func(t *testing.T) {
		s := newStore(t)
		order := id.New()
		boom := errors.New("boom")
		_, err := s.UpdateOrder(ctx, order, func(st *notification.OrderState) (*notification.Email, error) {
			st.MailedVersion = 9
			return NewEmail(order, 9, t0), boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("decide's error came back as %v", err)
		}
		queued, err := s.UpdateOrder(ctx, order, func(st *notification.OrderState) (*notification.Email, error) {
			if st.MailedVersion != 0 {
				t.Errorf("a failed decide saved the state: %+v", st)
			}
			st.Buyer = notification.Buyer{Email: "b@example.com"}
			return nil, nil
		})
		if err != nil || queued {
			t.Fatalf("no email: queued %v, %v", queued, err)
		}
		_, _ = s.UpdateOrder(ctx, order, func(st *notification.OrderState) (*notification.Email, error) {
			if st.Buyer.Email != "b@example.com" {
				t.Errorf("state not saved: %+v", st)
			}
			return nil, nil
		})
		if n := len(claim(t, s, t0.Add(time.Hour), false, 10)); n != 0 {
			t.Fatalf("%d emails queued", n)
		}
	})

	t.Run("UpdateOrder of one order takes turns", func(t *testing.T) {
		s := newStore(t)
		order := id.New()
		const n = 20
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				_, err := s.UpdateOrder(ctx, order, func(st *notification.OrderState) (*notification.Email, error) {
					st.MailedVersion++
					return NewEmail(order, st.MailedVersion, t0), nil
				})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if got := claim(t, s, t0, false, 100); len(got) != n {
			t.Fatalf("%d emails, want %d (one per version: every update saw the one before)", len(got), n)
		}
	})

	t.Run("Claim takes due emails, new or retries, oldest first, up to the limit, and hides them for the lease", func(t *testing.T) {
		s := newStore(t)
		var all []*notification.Email
		for i := range 5 {
			e := NewEmail(id.New(), 1, t0.Add(time.Duration(i)*time.Second))
			queue(t, s, e)
			all = append(all, e)
		}
		later := NewEmail(id.New(), 1, t0.Add(time.Hour)) // not due yet
		queue(t, s, later)
		if got := claim(t, s, t0.Add(10*time.Second), true, 10); len(got) != 0 {
			t.Fatalf("a retry claim took %d new emails", len(got))
		}
		got := claim(t, s, t0.Add(10*time.Second), false, 3)
		if len(got) != 3 || got[0].ID != all[0].ID || got[1].ID != all[1].ID || got[2].ID != all[2].ID {
			t.Fatalf("claimed %v, want the 3 oldest", got)
		}
		rest := claim(t, s, t0.Add(10*time.Second), false, 10)
		if len(rest) != 2 || rest[0].ID != all[3].ID || rest[1].ID != all[4].ID {
			t.Fatalf("then claimed %v, want the other 2 due", rest)
		}
		// Within the lease (a minute) nothing; after it, the five again as
		// retries, with a second attempt.
		if got := claim(t, s, t0.Add(40*time.Second), true, 10); len(got) != 0 {
			t.Fatalf("claimed %d emails within their lease", len(got))
		}
		again := claim(t, s, t0.Add(11*time.Second+time.Minute), true, 10)
		if len(again) != 5 {
			t.Fatalf("after the lease, claimed %d, want 5", len(again))
		}
		for _, e := range again {
			if e.Attempts != 2 {
				t.Fatalf("attempts %d after two claims", e.Attempts)
			}
		}
		if got := claim(t, s, t0.Add(2*time.Hour), false, 10); len(got) != 1 || got[0].ID != later.ID {
			t.Fatalf("the later email: %v", got)
		}
	})

	t.Run("concurrent claims never return one email twice", func(t *testing.T) {
		s := newStore(t)
		const n = 60
		for i := range n {
			queue(t, s, NewEmail(id.New(), 1, t0.Add(time.Duration(i)*time.Millisecond)))
		}
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				for {
					got, err := s.Claim(ctx, notification.ClaimQuery{Now: t0.Add(time.Second), Limit: 4, Lease: time.Hour})
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, e := range got {
						seen[e.ID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != n {
			t.Fatalf("claimed %d distinct emails, want %d", len(seen), n)
		}
		for id, c := range seen {
			if c != 1 {
				t.Fatalf("email %s claimed %d times", id, c)
			}
		}
	})

	t.Run("Retry schedules, MarkFailed and MarkSent end the attempts", func(t *testing.T) {
		s := newStore(t)
		a, b, c := NewEmail(id.New(), 1, t0), NewEmail(id.New(), 1, t0), NewEmail(id.New(), 1, t0)
		for _, e := range []*notification.Email{a, b, c} {
			queue(t, s, e)
		}
		claim(t, s, t0, false, 10)
		if err := s.Retry(ctx, a.ID, t0.Add(10*time.Second), "421 try later"); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkFailed(ctx, b.ID, t0, "550 no such user"); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkSent(ctx, c.ID, t0); err != nil {
			t.Fatal(err)
		}
		if got := claim(t, s, t0.Add(5*time.Second), true, 10); len(got) != 0 {
			t.Fatalf("claimed %d before the retry is due", len(got))
		}
		got := claim(t, s, t0.Add(24*time.Hour), true, 10)
		if len(got) != 1 || got[0].ID != a.ID || got[0].Attempts != 2 || got[0].LastError != "421 try later" {
			t.Fatalf("due retries: %+v (the failed and the sent email are never claimed again)", got)
		}
		if got := claim(t, s, t0.Add(48*time.Hour), false, 10); len(got) != 0 {
			t.Fatalf("claimed %d as new", len(got))
		}
	})

	t.Run("DeleteSent deletes only sent emails older than the cut-off", func(t *testing.T) {
		s := newStore(t)
		old, recent, failed, pending := NewEmail(id.New(), 1, t0), NewEmail(id.New(), 1, t0), NewEmail(id.New(), 1, t0), NewEmail(id.New(), 1, t0)
		for _, e := range []*notification.Email{old, recent, failed, pending} {
			queue(t, s, e)
		}
		claim(t, s, t0, false, 10)
		for _, step := range []error{
			s.MarkSent(ctx, old.ID, t0.Add(-48*time.Hour)),
			s.MarkSent(ctx, recent.ID, t0),
			s.MarkFailed(ctx, failed.ID, t0.Add(-48*time.Hour), "550"),
			s.Retry(ctx, pending.ID, t0, "421"),
		} {
			if step != nil {
				t.Fatal(step)
			}
		}
		n, err := s.DeleteSent(ctx, t0.Add(-24*time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("deleted %d, %v; want the 1 old sent email", n, err)
		}
		if n, err := s.DeleteSent(ctx, t0.Add(-24*time.Hour)); err != nil || n != 0 {
			t.Fatalf("again: deleted %d, %v", n, err)
		}
		pendingN, oldest, err := s.Backlog(ctx)
		if err != nil || pendingN != 1 || !oldest.Equal(t0) {
			t.Fatalf("backlog %d, %v, %v; want the pending email", pendingN, oldest, err)
		}
		if n, err := s.DeleteSent(ctx, t0.Add(time.Hour)); err != nil || n != 1 {
			t.Fatalf("deleted %d, %v; want the recent sent email once past the cut-off", n, err)
		}
	})

	t.Run("Backlog counts pending emails and the oldest", func(t *testing.T) {
		s := newStore(t)
		if n, oldest, err := s.Backlog(ctx); err != nil || n != 0 || !oldest.IsZero() {
			t.Fatalf("empty: %d, %v, %v", n, oldest, err)
		}
		for i := range 3 {
			queue(t, s, NewEmail(id.New(), 1, t0.Add(time.Duration(i)*time.Minute)))
		}
		n, oldest, err := s.Backlog(ctx)
		if err != nil || n != 3 || !oldest.Equal(t0) {
			t.Fatalf("backlog %d, %v, %v", n, oldest, err)
		}
	})

	t.Run("ForgetOrders forgets orders not changed since the cut-off", func(t *testing.T) {
		s := newStore(t)
		orders := []string{id.New(), id.New()}
		for _, o := range orders {
			queue(t, s, NewEmail(o, 1, t0))
		}
		if n, err := s.ForgetOrders(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
			t.Fatalf("forgot %d, %v of orders changed just now", n, err)
		}
		n, err := s.ForgetOrders(ctx, time.Now().Add(time.Hour))
		if err != nil || n != 2 {
			t.Fatalf("forgot %d, %v; want 2", n, err)
		}
		_, err = s.UpdateOrder(ctx, orders[0], func(st *notification.OrderState) (*notification.Email, error) {
			if st.MailedVersion != 0 || st.Buyer != (notification.Buyer{}) {
				return nil, fmt.Errorf("forgotten order still has %+v", st)
			}
			return nil, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
