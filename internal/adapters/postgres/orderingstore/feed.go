package orderingstore

import (
	"context"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/core/ordering"
)

// Feed is ordering.ChangeFeed over LISTEN/NOTIFY: Orders notifies Channel in
// the transaction of every change, so the notification reaches every
// replica's Feed once the change is committed, whichever replica made it.
// Run holds the one listening connection of the process and fans the
// notifications out to the subscribers of each order.
type Feed struct {
	pool *pgxpool.Pool
	log  *slog.Logger

	mu   sync.Mutex
	subs map[string]map[chan int64]struct{}
}

var _ ordering.ChangeFeed = (*Feed)(nil)

// NewFeed returns the change feed over pool; Run must be running for it to
// deliver.
func NewFeed(pool *pgxpool.Pool, log *slog.Logger) *Feed {
	return &Feed{pool: pool, log: log, subs: map[string]map[chan int64]struct{}{}}
}

// ReloadInterval is how often Run tells every subscriber to reload the
// order although no notification came: the bound on how long a watcher
// misses a change whose notification was lost (Orders notifies after the
// commit, so a writer that dies in between sends none).
const ReloadInterval = 5 * time.Second

// Run listens on Channel until ctx ends. Each time its connection is
// listening (again) it tells every subscriber to reload, since changes may
// have been missed meanwhile, and so it does every ReloadInterval.
func (f *Feed) Run(ctx context.Context) error {
	go func() {
		t := time.NewTicker(ReloadInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				f.broadcast(math.MaxInt64)
			}
		}
	}()
	postgres.Listen(ctx, f.pool, postgres.Listener{
		AppName:   "bookworm order feed",
		Channel:   Channel,
		Listening: func() { f.broadcast(math.MaxInt64) },
		Notified:  f.notified,
		Lost:      postgres.LogLost(f.log, "order feed: listening connection lost"),
	})
	return nil
}

func (f *Feed) notified(payload string) {
	id, v, ok := strings.Cut(payload, ":")
	if !ok {
		return
	}
	version, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs[id] {
		offer(ch, version)
	}
}

func (f *Feed) broadcast(version int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, chans := range f.subs {
		for ch := range chans {
			offer(ch, version)
		}
	}
}

// offer sends without blocking. A full channel already holds a version the
// reader has not seen; reading it makes the reader reload the order, which
// then has every change committed before this notification: dropping this
// one loses nothing.
func offer(ch chan int64, v int64) {
	select {
	case ch <- v:
	default:
	}
}

// Subscribe implements ordering.ChangeFeed.
func (f *Feed) Subscribe(ctx context.Context, orderID string) (<-chan int64, error) {
	ch := make(chan int64, 1)
	f.mu.Lock()
	if f.subs[orderID] == nil {
		f.subs[orderID] = map[chan int64]struct{}{}
	}
	f.subs[orderID][ch] = struct{}{}
	f.mu.Unlock()
	go func() {
		<-ctx.Done()
		f.mu.Lock()
		delete(f.subs[orderID], ch)
		if len(f.subs[orderID]) == 0 {
			delete(f.subs, orderID)
		}
		close(ch)
		f.mu.Unlock()
	}()
	return ch, nil
}
