package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
)

// Defaults of RelayConfig.
const (
	DefaultRelayBatchSize    = 500
	DefaultRelayWorkers      = 2
	DefaultRelayPollInterval = time.Second
	DefaultOutboxRetention   = 24 * time.Hour
	defaultPublishTimeout    = 30 * time.Second
	defaultPruneInterval     = time.Minute
	defaultBacklogInterval   = 5 * time.Second
	defaultRelayMinBackoff   = 100 * time.Millisecond
	defaultRelayMaxBackoff   = 5 * time.Second
)

// RelayConfig tunes a Relay. The zero value of every field means its
// default.
type RelayConfig struct {
	// BatchSize is how many events one batch claims and publishes at most
	// (default DefaultRelayBatchSize).
	BatchSize int
	// Workers is how many batches one relay has in flight at once (default
	// DefaultRelayWorkers): while one worker waits for its confirms another
	// reads and marks rows, so the database and the broker both stay busy.
	Workers int
	// PollInterval is how often an idle relay looks for events although no
	// notification woke it (default DefaultRelayPollInterval): the fallback
	// for a lost notification or a lost listening connection.
	PollInterval time.Duration
	// PublishTimeout bounds one batch: the claim, the wait for confirms and
	// the marking (default 30 s). Unconfirmed events are published again
	// by a later batch.
	PublishTimeout time.Duration
	// Retention is how long published events stay in the outbox (default
	// DefaultOutboxRetention), for inspection and replay by hand.
	Retention time.Duration
	// InboxRetention, when positive, is how long inbox rows are kept before
	// the relay prunes them; 0 keeps them forever. See PruneInbox for what
	// a too short retention costs.
	InboxRetention time.Duration
	// PruneInterval is how often published events (and inbox rows) are
	// pruned (default one minute).
	PruneInterval time.Duration
	// BacklogInterval is how often the backlog in RelayStats is measured
	// (default 5 s).
	BacklogInterval time.Duration
	// MinBackoff and MaxBackoff bound the exponential back-off after a
	// failed batch (defaults 100 ms and 5 s).
	MinBackoff, MaxBackoff time.Duration
	// Logger receives failures and recoveries (default slog.Default()).
	Logger *slog.Logger
	// TracerProvider, when set, makes a producer span of every batch that
	// claimed events (events.StartPublish: the batch's event ids, a link to
	// each event's producing span), with the marking's SQL under it. Nil
	// starts none.
	TracerProvider trace.TracerProvider
}

func (c RelayConfig) withDefaults() RelayConfig {
	set := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultRelayBatchSize
	}
	if c.Workers <= 0 {
		c.Workers = DefaultRelayWorkers
	}
	set(&c.PollInterval, DefaultRelayPollInterval)
	set(&c.PublishTimeout, defaultPublishTimeout)
	set(&c.Retention, DefaultOutboxRetention)
	set(&c.PruneInterval, defaultPruneInterval)
	set(&c.BacklogInterval, defaultBacklogInterval)
	set(&c.MinBackoff, defaultRelayMinBackoff)
	set(&c.MaxBackoff, defaultRelayMaxBackoff)
	c.MaxBackoff = max(c.MaxBackoff, c.MinBackoff)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// RelayStats are a relay's counters: the broker-neutral events.RelayStats.
type RelayStats = events.RelayStats

// Relay publishes the events of the outbox to the broker: the transactional
// outbox's forwarder. Any number of relays, in one process or in several
// replicas, may run on one database at once.
//
// Each worker of a relay claims up to BatchSize unpublished rows, oldest
// first, with SELECT ... FOR UPDATE SKIP LOCKED, so that concurrent workers
// take disjoint batches instead of waiting for each other; publishes the
// whole batch with every confirm in flight at once; sets published_at on
// exactly the confirmed rows; and commits. The claim is the row locks of
// that open transaction, not a lease column: when a relay crashes its
// connection closes, Postgres rolls the transaction back and the rows are
// free at once for another relay (a lease would have to expire first), and
// a row is only ever marked published by the transaction that saw its
// confirm. The cost is a transaction open while the confirms come, bounded
// by PublishTimeout (and by idle_in_transaction_session_timeout should the
// relay stall with its connection open).
//
// Nothing is lost: a row leaves the queue only once the broker confirmed it.
// An event may be published twice (the commit that marks it fails after the
// broker confirmed it, or a relay crashes between the two); consumers drop
// the duplicate by event id (HandleOnce).
//
// A worker loops at once while it finds full batches; otherwise it waits
// for a notification on Channel (sent with, or just after, every commit that
// enqueued events; one wakes one worker)
// or for PollInterval. While the broker is down it backs off exponentially,
// without claiming rows when the Publisher can tell it is not ready.
type Relay struct {
	pool *pgxpool.Pool
	pub  events.Publisher
	cfg  RelayConfig
	log  *slog.Logger

	// wakeC holds one wake-up for the next idle worker: a notification
	// wakes one worker, not all of them, since one claim takes every event
	// its commit wrote (more notifications wake more workers).
	wakeC chan struct{}

	published     atomic.Uint64
	batches       atomic.Uint64
	failedBatches atomic.Uint64
	unconfirmed   atomic.Uint64
	pruned        atomic.Uint64
	backlogMu     sync.Mutex
	backlog       int64
	oldest        time.Duration
	backlogTime   time.Time
}

// NewRelay returns a relay from the outbox of pool to pub. Start it with Run.
func NewRelay(pool *pgxpool.Pool, pub events.Publisher, cfg RelayConfig) *Relay {
	cfg = cfg.withDefaults()
	return &Relay{
		pool:  pool,
		pub:   pub,
		cfg:   cfg,
		log:   cfg.Logger.With(slog.String("component", "outbox-relay")),
		wakeC: make(chan struct{}, 1),
	}
}

// errNotReady reports a publisher that says it cannot publish now.
var errNotReady = errors.New("outbox relay: the broker is not ready")

// Run relays until ctx ends, then returns nil once every worker has
// finished the batch it had in flight (each batch is bounded by
// PublishTimeout, not by ctx, so a shutdown does not abandon confirms that
// are on their way). Run also listens for Channel, prunes, and
// measures the backlog. Call Flush after Run to publish what is left.
func (r *Relay) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { r.listenLoop(ctx) })
	wg.Go(func() { r.housekeep(ctx) })
	for range r.cfg.Workers {
		wg.Go(func() { r.work(ctx) })
	}
	wg.Wait()
	return nil
}

// Stats returns the relay's counters.
func (r *Relay) Stats() RelayStats {
	r.backlogMu.Lock()
	defer r.backlogMu.Unlock()
	return RelayStats{
		Published:     r.published.Load(),
		Batches:       r.batches.Load(),
		FailedBatches: r.failedBatches.Load(),
		Unconfirmed:   r.unconfirmed.Load(),
		Pruned:        r.pruned.Load(),
		Backlog:       r.backlog,
		OldestPending: r.oldest,
		BacklogTime:   r.backlogTime,
	}
}

// Backlog measures the outbox now: how many events wait to be published, and
// how long the oldest of them has waited (0 when none). It also updates
// RelayStats.
func (r *Relay) Backlog(ctx context.Context) (pending int64, oldest time.Duration, err error) {
	var age *float64
	err = r.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM events.outbox WHERE published_at IS NULL),
		(SELECT extract(epoch FROM clock_timestamp() - occur_time)::float8
		   FROM events.outbox WHERE published_at IS NULL ORDER BY seq LIMIT 1)`).Scan(&pending, &age)
	if err != nil {
		return 0, 0, fmt.Errorf("outbox relay: measure backlog: %w", err)
	}
	if age != nil {
		oldest = max(time.Duration(*age*float64(time.Second)), 0)
	}
	r.backlogMu.Lock()
	r.backlog, r.oldest, r.backlogTime = pending, oldest, time.Now()
	r.backlogMu.Unlock()
	return pending, oldest, nil
}

// Flush publishes batches until no unpublished event is left (rows other
// relays hold at the moment are skipped) or ctx ends. A server calls it at
// shutdown, after its last writes, so that its events do not wait for
// another replica or the next start.
func (r *Relay) Flush(ctx context.Context) error {
	for {
		n, err := r.RelayBatch(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
	}
}

// RelayBatch claims, publishes and marks one batch, within ctx, and returns
// how many events it claimed. It fails when the database fails or not every
// claimed event was confirmed; the confirmed ones are marked all the same.
func (r *Relay) RelayBatch(ctx context.Context) (int, error) {
	if rp, ok := r.pub.(events.Readiness); ok && !rp.Ready() {
		return 0, errNotReady
	}
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("outbox relay: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	seqs, msgs, err := r.claim(ctx, tx)
	if err != nil {
		return 0, fmt.Errorf("outbox relay: claim: %w", err)
	}
	if len(msgs) == 0 {
		return 0, tx.Commit(ctx)
	}
	r.batches.Add(1)
	ctx, span := events.StartPublish(ctx, r.cfg.TracerProvider, r.pub, msgs)
	n, err := r.publish(ctx, tx, seqs, msgs)
	if span != nil {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "")
		}
		span.End()
	}
	return n, err
}

// publish publishes the claimed msgs (rows seqs, locked by tx), marks the
// confirmed ones published and commits.
func (r *Relay) publish(ctx context.Context, tx pgx.Tx, seqs []int64, msgs []events.Message) (int, error) {
	confirmed, pubErr := r.pub.PublishBatch(ctx, msgs)
	done := seqs[:0:0]
	for i, ok := range confirmed {
		if ok {
			done = append(done, seqs[i])
		}
	}
	if len(done) > 0 {
		// Even when ctx ended while the confirms came: what the broker
		// confirmed is marked, or it would be published again.
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := tx.Exec(mctx, `UPDATE events.outbox SET published_at = now() WHERE seq = ANY ($1::bigint[])`, done); err != nil {
			r.failedBatches.Add(1)
			return len(msgs), fmt.Errorf("outbox relay: mark %d events published: %w", len(done), err)
		}
		if err := tx.Commit(mctx); err != nil {
			r.failedBatches.Add(1)
			return len(msgs), fmt.Errorf("outbox relay: commit %d published events: %w", len(done), err)
		}
		r.published.Add(uint64(len(done)))
	}
	if missing := len(msgs) - len(done); missing > 0 || pubErr != nil {
		r.failedBatches.Add(1)
		r.unconfirmed.Add(uint64(missing))
		return len(msgs), fmt.Errorf("outbox relay: %d of %d events not confirmed: %w", missing, len(msgs), pubErr)
	}
	return len(msgs), nil
}

// claimSQL takes the oldest unpublished rows that no other relay holds.
const claimSQL = `SELECT seq, event_id::text, type, source, occur_time, traceparent, tracestate, content_type, data
	FROM events.outbox WHERE published_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED`

// claim locks and reads one batch in tx, in one round trip with the settings
// of tx. They bound how long tx may sit idle, so that a relay that stalls
// with its connection open does not hold its rows for ever.
func (r *Relay) claim(ctx context.Context, tx pgx.Tx) ([]int64, []events.Message, error) {
	idle := r.cfg.PublishTimeout + 30*time.Second
	b := &pgx.Batch{}
	// The mark need not wait for the WAL flush: should a crash lose it, the
	// events are published again, which consumers tolerate. It takes a
	// flush off every batch's path.
	b.Queue(`SELECT set_config('idle_in_transaction_session_timeout', $1, true), set_config('synchronous_commit', 'off', true)`,
		strconv.FormatInt(idle.Milliseconds(), 10))
	b.Queue(claimSQL, r.cfg.BatchSize)
	res := tx.SendBatch(ctx, b)
	defer res.Close()
	if _, err := res.Exec(); err != nil {
		return nil, nil, err
	}
	rows, err := res.Query()
	if err != nil {
		return nil, nil, err
	}
	var (
		seqs []int64
		msgs []events.Message
	)
	for rows.Next() {
		var (
			seq int64
			m   events.Message
		)
		if err := rows.Scan(&seq, &m.ID, &m.Type, &m.Source, &m.Time, &m.TraceParent, &m.TraceState,
			&m.ContentType, &m.Data); err != nil {
			rows.Close()
			return nil, nil, err
		}
		m.Time = m.Time.UTC()
		seqs = append(seqs, seq)
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	return seqs, msgs, res.Close()
}

// work is one worker: it relays batches until ctx ends.
func (r *Relay) work(ctx context.Context) {
	failures := 0
	warned := false
	for ctx.Err() == nil {
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.PublishTimeout)
		n, err := r.RelayBatch(bctx)
		cancel()
		if err != nil {
			failures++
			notReady := errors.Is(err, errNotReady)
			switch {
			case !notReady && failures&(failures-1) == 0: // the 1st, 2nd, 4th, 8th, ...
				r.log.Warn("outbox relay: batch failed; retrying with back-off",
					slog.String("error", err.Error()), slog.Int("failed_attempts", failures))
				warned = true
			case notReady && failures == notReadyWarnAfter:
				// Not at once: the broker connects in the background
				// while the server starts.
				r.log.Warn("outbox relay: waiting for the broker; events stay in the outbox meanwhile")
				warned = true
			}
			r.pause(ctx, failures, notReady)
			continue
		}
		if warned {
			r.log.Info("outbox relay: publishing again", slog.Int("failed_attempts", failures))
			warned = false
		}
		failures = 0
		if n == r.cfg.BatchSize {
			continue // backlog: at once
		}
		t := time.NewTimer(r.cfg.PollInterval)
		select {
		case <-ctx.Done():
		case <-r.wakeC:
		case <-t.C:
		}
		t.Stop()
	}
}

// notReadyWarnAfter is after how many looks at a broker that is not ready
// a worker logs it (a few seconds with the default back-off).
const notReadyWarnAfter = 6

// pause waits after the failures-th failure in a row: an exponential,
// jittered back-off. When the broker was not ready it ends early once the
// broker is back (after MinBackoff at least, so that a broker that is
// connected but blocks publishers is not asked in a tight loop).
func (r *Relay) pause(ctx context.Context, failures int, notReady bool) {
	d := events.Backoff(r.cfg.MinBackoff, r.cfg.MaxBackoff, failures)
	rp, ok := r.pub.(events.Readiness)
	if !notReady || !ok || d <= r.cfg.MinBackoff {
		events.Sleep(ctx, d)
		return
	}
	if !events.Sleep(ctx, r.cfg.MinBackoff) {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, d-r.cfg.MinBackoff)
	defer cancel()
	_ = rp.WaitReady(wctx)
}

// wake wakes one idle worker, or the next worker that finishes a batch
// short of BatchSize: a notification that comes while every worker is busy
// is kept, so events committed after a worker's claim are never left
// waiting for PollInterval.
func (r *Relay) wake() {
	select {
	case r.wakeC <- struct{}{}:
	default: // a wake-up is pending already; it covers this one
	}
}

// listenLoop listens on Channel until ctx ends (postgres.Listen reconnects
// with back-off). Workers poll meanwhile, so a lost connection only slows
// them down.
func (r *Relay) listenLoop(ctx context.Context) {
	postgres.Listen(ctx, r.pool, postgres.Listener{
		AppName: "bookworm-outbox-relay",
		Channel: Channel,
		// Events committed while nobody listened wait no longer.
		Listening:  r.wake,
		Notified:   func(string) { r.wake() },
		Lost:       postgres.LogLost(r.log, "outbox relay: listen connection lost; polling until it is back"),
		MinBackoff: r.cfg.MinBackoff,
		MaxBackoff: r.cfg.MaxBackoff,
	})
}

// housekeep prunes and measures the backlog until ctx ends.
func (r *Relay) housekeep(ctx context.Context) {
	prune := time.NewTicker(r.cfg.PruneInterval)
	defer prune.Stop()
	measure := time.NewTicker(r.cfg.BacklogInterval)
	defer measure.Stop()
	if _, _, err := r.Backlog(ctx); err != nil && ctx.Err() == nil {
		r.log.Warn("outbox relay: backlog", slog.String("error", err.Error()))
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-prune.C:
			if _, err := r.Prune(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("outbox relay: prune", slog.String("error", err.Error()))
			}
		case <-measure.C:
			if _, _, err := r.Backlog(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("outbox relay: backlog", slog.String("error", err.Error()))
			}
		}
	}
}

// Prune deletes the events published longer than Retention ago and, when
// InboxRetention is set, the inbox rows older than that. It returns how many
// events it deleted.
func (r *Relay) Prune(ctx context.Context) (int64, error) {
	n, err := pruneChunks(ctx, r.pool, `DELETE FROM events.outbox WHERE seq IN (
		SELECT seq FROM events.outbox WHERE published_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, time.Now().Add(-r.cfg.Retention))
	r.pruned.Add(uint64(n))
	if err != nil {
		return n, fmt.Errorf("outbox relay: prune the outbox: %w", err)
	}
	if r.cfg.InboxRetention > 0 {
		if _, err := PruneInbox(ctx, r.pool, time.Now().Add(-r.cfg.InboxRetention)); err != nil {
			return n, fmt.Errorf("outbox relay: prune the inbox: %w", err)
		}
	}
	return n, nil
}
