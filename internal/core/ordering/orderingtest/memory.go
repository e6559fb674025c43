package orderingtest

import (
	"context"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/ordering"
)

// MemoryOrderStore is an ordering.OrderStore in memory that keeps the
// port's contract (RunOrderStore proves it), with optimistic concurrency
// like the Postgres store's. The events of every write are kept in order
// (Events).
type MemoryOrderStore struct {
	mu        sync.Mutex
	orders    map[string]ordering.Snapshot
	revisions map[string]int64
	byRequest map[string]string
	events    []ordering.Event
}

var _ ordering.OrderStore = (*MemoryOrderStore)(nil)

// NewMemoryOrderStore returns an empty store.
func NewMemoryOrderStore() *MemoryOrderStore {
	return &MemoryOrderStore{orders: map[string]ordering.Snapshot{}, revisions: map[string]int64{}, byRequest: map[string]string{}}
}

// Events returns the events written so far, in order.
func (m *MemoryOrderStore) Events() []ordering.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.events)
}

func (m *MemoryOrderStore) restore(id string) (*ordering.Order, int64, error) {
	s, ok := m.orders[id]
	if !ok {
		return nil, 0, failure.NotFound("order %s not found", id)
	}
	o, err := ordering.Restore(s)
	return o, m.revisions[id], err
}

// Create implements ordering.OrderStore.
func (m *MemoryOrderStore) Create(_ context.Context, o *ordering.Order, evs []ordering.Event) (*ordering.Order, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := o.UserID() + "\x00" + o.RequestID()
	if id, ok := m.byRequest[key]; ok {
		stored, _, err := m.restore(id)
		return stored, false, err
	}
	m.byRequest[key] = o.ID()
	m.orders[o.ID()] = o.Snapshot()
	m.revisions[o.ID()] = 1
	m.events = append(m.events, evs...)
	stored, _, err := m.restore(o.ID())
	return stored, true, err
}

// Get implements ordering.OrderStore.
func (m *MemoryOrderStore) Get(_ context.Context, id string) (*ordering.Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, _, err := m.restore(id)
	return o, err
}

// FindByRequest implements ordering.OrderStore.
func (m *MemoryOrderStore) FindByRequest(_ context.Context, userID, requestID string) (*ordering.Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.byRequest[userID+"\x00"+requestID]
	if !ok {
		return nil, failure.NotFound("order of request %s not found", requestID)
	}
	o, _, err := m.restore(id)
	return o, err
}

// Update implements ordering.OrderStore. The closure runs without the
// store's lock, as the Postgres store's runs outside its transaction, so a
// write in between is a conflict.
func (m *MemoryOrderStore) Update(_ context.Context, id string, update func(*ordering.Order) ([]ordering.Event, error)) (*ordering.Order, error) {
	m.mu.Lock()
	o, rev, err := m.restore(id)
	m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	evs, err := update(o)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.revisions[id] != rev {
		return nil, failure.Conflict("order %s was changed concurrently; read it again and retry", id)
	}
	m.orders[id] = o.Snapshot()
	m.revisions[id]++
	m.events = append(m.events, evs...)
	stored, _, err := m.restore(id)
	return stored, err
}

// List implements ordering.OrderStore.
func (m *MemoryOrderStore) List(_ context.Context, q ordering.ListQuery) (ordering.Page, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, len(q.Statuses))
	for i, s := range q.Statuses {
		names[i] = s.String()
	}
	fp := strings.Join([]string{q.UserID, strings.Join(names, ","), q.CreatedFrom.String(), q.CreatedBefore.String()}, "\x1f")
	var afterTime time.Time
	var afterID string
	if q.PageToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(q.PageToken)
		parts := strings.Split(string(b), "\x1e")
		if err != nil || len(parts) != 3 || parts[0] != fp {
			return ordering.Page{}, failure.Invalid("page_token", "is not a page token of this query")
		}
		micros, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil {
			return ordering.Page{}, failure.Invalid("page_token", "is not a page token of this query")
		}
		afterTime, afterID = time.UnixMicro(micros).UTC(), parts[2]
	}
	var out []*ordering.Order
	for id := range m.orders {
		o, _, _ := m.restore(id)
		switch {
		case q.UserID != "" && o.UserID() != q.UserID:
		case len(q.Statuses) > 0 && !slices.Contains(q.Statuses, o.Status()):
		case !q.CreatedFrom.IsZero() && o.CreatedAt().Before(q.CreatedFrom):
		case !q.CreatedBefore.IsZero() && !o.CreatedAt().Before(q.CreatedBefore):
		case q.PageToken != "" && !before(o, afterTime, afterID):
		default:
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b *ordering.Order) int {
		if before(a, b.CreatedAt(), b.ID()) {
			return 1
		}
		return -1
	})
	size := q.PageSize
	if size <= 0 {
		size = ordering.DefaultPageSize
	}
	var page ordering.Page
	if len(out) > size {
		out = out[:size]
		last := out[size-1]
		page.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(fp + "\x1e" +
			strconv.FormatInt(last.CreatedAt().UnixMicro(), 10) + "\x1e" + last.ID()))
	}
	page.Orders = out
	return page, nil
}

// before reports whether o comes after (t, id) in newest-first order.
func before(o *ordering.Order, t time.Time, id string) bool {
	if !o.CreatedAt().Equal(t) {
		return o.CreatedAt().Before(t)
	}
	return o.ID() < id
}

// Due implements ordering.OrderStore.
func (m *MemoryOrderStore) Due(_ context.Context, now time.Time, limit int) ([]*ordering.Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*ordering.Order
	for id, s := range m.orders {
		if !s.Deadline.IsZero() && !s.Deadline.After(now) {
			o, _, _ := m.restore(id)
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b *ordering.Order) int { return a.Deadline().Compare(b.Deadline()) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
