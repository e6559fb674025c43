// Package notificationtest holds the contract suite of the notification
// context's store ports (notification.Queue and notification.Outbox), which
// every adapter runs, and an in-memory fake that passes it. Import it from
// tests only.
package notificationtest

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/notification"
)

// Store is both ports, as one adapter provides them.
type Store interface {
	notification.Queue
	notification.Outbox
}

// Memory is Store in memory: the fake the core's tests use, held to the
// same contract as the Postgres store.
type Memory struct {
	mu     sync.Mutex
	orders map[string]memOrder
	emails []*notification.Email
}

type memOrder struct {
	st      notification.OrderState
	updated time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty store.
func NewMemory() *Memory { return &Memory{orders: map[string]memOrder{}} }

// UpdateOrder implements notification.Queue.
func (m *Memory) UpdateOrder(_ context.Context, orderID string, decide func(*notification.OrderState) (*notification.Email, error)) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.orders[orderID]
	if !ok {
		o.st = notification.OrderState{OrderID: orderID}
	}
	st := o.st
	e, err := decide(&st)
	if err != nil {
		return false, err
	}
	m.orders[orderID] = memOrder{st: st, updated: time.Now()}
	if e == nil {
		return false, nil
	}
	for _, x := range m.emails {
		if x.OrderID == e.OrderID && x.Version == e.Version {
			return false, nil
		}
	}
	c := *e
	m.emails = append(m.emails, &c)
	return true, nil
}

// Claim implements notification.Outbox.
func (m *Memory) Claim(_ context.Context, q notification.ClaimQuery) ([]notification.Email, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var due []*notification.Email
	for _, e := range m.emails {
		if e.Status == notification.StatusPending && !e.NextAttemptTime.After(q.Now) && (e.Attempts > 0) == q.Retries {
			due = append(due, e)
		}
	}
	slices.SortStableFunc(due, func(a, b *notification.Email) int { return a.NextAttemptTime.Compare(b.NextAttemptTime) })
	if len(due) > q.Limit {
		due = due[:q.Limit]
	}
	out := make([]notification.Email, 0, len(due))
	for _, e := range due {
		e.Attempts++
		e.NextAttemptTime = q.Now.Add(q.Lease)
		out = append(out, *e)
	}
	return out, nil
}

func (m *Memory) find(id string) *notification.Email {
	for _, e := range m.emails {
		if e.ID == id {
			return e
		}
	}
	return nil
}

// MarkSent implements notification.Outbox.
func (m *Memory) MarkSent(_ context.Context, id string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.find(id); e != nil {
		e.Status, e.SentTime, e.NextAttemptTime = notification.StatusSent, at, time.Time{}
	}
	return nil
}

// Retry implements notification.Outbox.
func (m *Memory) Retry(_ context.Context, id string, next time.Time, lastError string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.find(id); e != nil && e.Status == notification.StatusPending {
		e.NextAttemptTime, e.LastError = next, lastError
	}
	return nil
}

// MarkFailed implements notification.Outbox.
func (m *Memory) MarkFailed(_ context.Context, id string, _ time.Time, lastError string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.find(id); e != nil {
		e.Status, e.LastError, e.NextAttemptTime = notification.StatusFailed, lastError, time.Time{}
	}
	return nil
}

// DeleteSent implements notification.Outbox.
func (m *Memory) DeleteSent(_ context.Context, before time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.emails)
	m.emails = slices.DeleteFunc(m.emails, func(e *notification.Email) bool {
		return e.Status == notification.StatusSent && e.SentTime.Before(before)
	})
	return int64(n - len(m.emails)), nil
}

// ForgetOrders implements notification.Outbox.
func (m *Memory) ForgetOrders(_ context.Context, before time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for id, o := range m.orders {
		if o.updated.Before(before) {
			delete(m.orders, id)
			n++
		}
	}
	return n, nil
}

// Backlog implements notification.Outbox.
func (m *Memory) Backlog(context.Context) (int64, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	var oldest time.Time
	for _, e := range m.emails {
		if e.Status == notification.StatusPending {
			n++
			if oldest.IsZero() || e.CreateTime.Before(oldest) {
				oldest = e.CreateTime
			}
		}
	}
	return n, oldest, nil
}

// Emails returns a copy of every email, for tests.
func (m *Memory) Emails() []notification.Email {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]notification.Email, len(m.emails))
	for i, e := range m.emails {
		out[i] = *e
	}
	return out
}
