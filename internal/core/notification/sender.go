package notification

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// SenderConfig tunes a Sender. Zero fields take the defaults.
type SenderConfig struct {
	// BatchSize is the most emails one claim takes (default 20).
	BatchSize int
	// SendTimeout bounds one email's delivery (default 30s).
	SendTimeout time.Duration
	// Lease is how long a claim hides an email from other senders (default
	// 5m). It must exceed SendTimeout, so that no email is claimed again
	// while its first sender may still be sending it.
	Lease time.Duration
	// MaxAttempts is how many attempts an email gets before it is marked
	// failed (default 8).
	MaxAttempts int
	// BackoffBase is the wait after the first temporary failure, doubled
	// after each further one (default 1m), up to BackoffMax (default 6h).
	BackoffBase, BackoffMax time.Duration
	// Retention is how long sent emails are kept (default 7 days);
	// OrderRetention how long an order's buyer is remembered after its
	// last event (default 180 days).
	Retention, OrderRetention time.Duration
}

// Defaults of SenderConfig.
const (
	DefaultBatchSize      = 20
	DefaultSendTimeout    = 30 * time.Second
	DefaultLease          = 5 * time.Minute
	DefaultMaxAttempts    = 8
	DefaultBackoffBase    = time.Minute
	DefaultBackoffMax     = 6 * time.Hour
	DefaultRetention      = 7 * 24 * time.Hour
	DefaultOrderRetention = 180 * 24 * time.Hour
)

func (c SenderConfig) withDefaults() SenderConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	def(&c.SendTimeout, DefaultSendTimeout)
	def(&c.Lease, DefaultLease)
	def(&c.BackoffBase, DefaultBackoffBase)
	def(&c.BackoffMax, DefaultBackoffMax)
	def(&c.Retention, DefaultRetention)
	def(&c.OrderRetention, DefaultOrderRetention)
	return c
}

// Validate reports settings that cannot work together.
func (c SenderConfig) Validate() error {
	c = c.withDefaults()
	if c.Lease <= c.SendTimeout {
		return errors.New("notification: the lease must exceed the send timeout, or two senders could send one email")
	}
	if c.BackoffMax < c.BackoffBase {
		return errors.New("notification: the longest back-off must not be shorter than the first")
	}
	return nil
}

// Backoff is the wait before the next attempt after attempts failed
// attempts: BackoffBase doubled for each failure after the first, at most
// BackoffMax.
func (c SenderConfig) Backoff(attempts int) time.Duration {
	c = c.withDefaults()
	d := c.BackoffBase
	for i := 1; i < attempts && d < c.BackoffMax; i++ {
		d *= 2
	}
	return min(d, c.BackoffMax)
}

// Sender delivers the email outbox.
type Sender struct {
	outbox Outbox
	mailer Mailer
	cfg    SenderConfig
	now    func() time.Time
	log    *slog.Logger
	stats  *Counters
}

// NewSender returns a sender of outbox through mailer. now may be nil for
// the wall clock, log nil for none, stats nil for counters of its own.
func NewSender(outbox Outbox, mailer Mailer, cfg SenderConfig, now func() time.Time, log *slog.Logger, stats *Counters) (*Sender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if stats == nil {
		stats = &Counters{}
	}
	return &Sender{outbox: outbox, mailer: mailer, cfg: cfg.withDefaults(), now: now, log: log, stats: stats}, nil
}

// Result counts what one pass did.
type Result struct {
	Sent, Retried, Failed int
}

// SendDue claims and sends due emails until none is left: new ones, or
// with retries the ones whose earlier attempt failed temporarily and whose
// back-off is over. A failure of the outbox ends the pass with an error;
// the emails it had claimed come back once their lease is over.
func (s *Sender) SendDue(ctx context.Context, retries bool) (Result, error) {
	var res Result
	for {
		claimed := s.now()
		batch, err := s.outbox.Claim(ctx, ClaimQuery{Now: claimed.UTC(), Retries: retries, Limit: s.cfg.BatchSize, Lease: s.cfg.Lease})
		if err != nil {
			return res, fmt.Errorf("notification: claim: %w", err)
		}
		for i, e := range batch {
			// Only while a whole send still fits in the lease: after it,
			// another sender may claim the email. The rest of the batch
			// comes back when the lease is over.
			if s.now().Sub(claimed)+s.cfg.SendTimeout >= s.cfg.Lease {
				s.log.WarnContext(ctx, "sending took most of the lease; leaving the rest of the batch for later",
					slog.Int("left", len(batch)-i))
				return res, nil
			}
			if err := s.send(ctx, e, &res); err != nil {
				return res, err
			}
		}
		if len(batch) < s.cfg.BatchSize || ctx.Err() != nil {
			return res, ctx.Err()
		}
	}
}

// send delivers one claimed email and records the outcome.
func (s *Sender) send(ctx context.Context, e Email, res *Result) error {
	sendCtx, cancel := context.WithTimeout(ctx, s.cfg.SendTimeout)
	err := s.mailer.Send(sendCtx, e)
	cancel()
	now := s.now().UTC()
	// The record outlives a shutdown that began during the send: an email
	// the server accepted is recorded sent if at all possible.
	recCtx, cancelRec := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancelRec()
	attrs := []any{slog.String("email_id", e.ID), slog.String("order_id", e.OrderID), slog.String("kind", e.Kind.String()), slog.Int("attempt", e.Attempts)}
	switch {
	case err == nil:
		if rerr := s.outbox.MarkSent(recCtx, e.ID, now); rerr != nil {
			// Sent but not recorded: sent again after the lease, with the
			// same Message-ID.
			return fmt.Errorf("notification: mark email %s sent: %w", e.ID, rerr)
		}
		res.Sent++
		s.stats.sent.Add(1)
		s.log.InfoContext(ctx, "email sent", attrs...)
	case IsPermanent(err) || e.Attempts >= s.cfg.MaxAttempts:
		if rerr := s.outbox.MarkFailed(recCtx, e.ID, now, errorText(err)); rerr != nil {
			return fmt.Errorf("notification: mark email %s failed: %w", e.ID, rerr)
		}
		res.Failed++
		s.stats.failed.Add(1)
		s.log.WarnContext(ctx, "email failed; not sending it again", append(attrs, slog.Bool("permanent", IsPermanent(err)), slog.String("error", errorText(err)))...)
	default:
		next := now.Add(s.cfg.Backoff(e.Attempts))
		if rerr := s.outbox.Retry(recCtx, e.ID, next, errorText(err)); rerr != nil {
			return fmt.Errorf("notification: reschedule email %s: %w", e.ID, rerr)
		}
		res.Retried++
		s.stats.retried.Add(1)
		s.log.WarnContext(ctx, "email not sent; trying again later", append(attrs, slog.Time("next_attempt", next), slog.String("error", errorText(err)))...)
	}
	return nil
}

// CleanUp deletes emails sent longer ago than the retention (pending and
// failed ones stay) and forgets the buyers of orders not heard of for the
// order retention.
func (s *Sender) CleanUp(ctx context.Context) (deleted, forgotten int64, err error) {
	now := s.now().UTC()
	if deleted, err = s.outbox.DeleteSent(ctx, now.Add(-s.cfg.Retention)); err != nil {
		return 0, 0, fmt.Errorf("notification: delete sent emails: %w", err)
	}
	if forgotten, err = s.outbox.ForgetOrders(ctx, now.Add(-s.cfg.OrderRetention)); err != nil {
		return deleted, 0, fmt.Errorf("notification: forget orders: %w", err)
	}
	return deleted, forgotten, nil
}

// Measure records the backlog (pending emails, the oldest one's age) in
// the counters.
func (s *Sender) Measure(ctx context.Context) error {
	pending, oldest, err := s.outbox.Backlog(ctx)
	if err != nil {
		return fmt.Errorf("notification: backlog: %w", err)
	}
	s.stats.setBacklog(pending, oldest, s.now().UTC())
	return nil
}

// measureEvery is how often the sender's loop measures the backlog.
const measureEvery = 15 * time.Second

// RunSender sends new emails every interval until ctx ends. Failures are
// logged and tried again at the next tick: the loop only ends with ctx.
func (s *Sender) RunSender(ctx context.Context, interval time.Duration) error {
	return s.every(ctx, interval, func() {
		if _, err := s.SendDue(ctx, false); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "sending emails", slog.String("error", err.Error()))
		}
		if !s.stats.measuredSince(s.now().Add(-measureEvery)) {
			if err := s.Measure(ctx); err != nil && ctx.Err() == nil {
				s.log.WarnContext(ctx, "measuring the email backlog", slog.String("error", err.Error()))
			}
		}
	})
}

// RunRetries sends, every interval until ctx ends, the emails whose
// earlier attempt failed temporarily and whose back-off is over.
func (s *Sender) RunRetries(ctx context.Context, interval time.Duration) error {
	return s.every(ctx, interval, func() {
		res, err := s.SendDue(ctx, true)
		if err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "retrying emails", slog.String("error", err.Error()))
		}
		if res != (Result{}) {
			s.log.InfoContext(ctx, "email retries", slog.Int("sent", res.Sent), slog.Int("retried", res.Retried), slog.Int("failed", res.Failed))
		}
	})
}

// RunCleanUp runs CleanUp every interval until ctx ends.
func (s *Sender) RunCleanUp(ctx context.Context, interval time.Duration) error {
	return s.every(ctx, interval, func() {
		deleted, forgotten, err := s.CleanUp(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "cleaning up emails", slog.String("error", err.Error()))
		}
		if deleted > 0 || forgotten > 0 {
			s.log.InfoContext(ctx, "emails cleaned up", slog.Int64("sent_deleted", deleted), slog.Int64("orders_forgotten", forgotten))
		}
		if err := s.Measure(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "measuring the email backlog", slog.String("error", err.Error()))
		}
	})
}

// every runs fn at once and then every interval until ctx ends.
func (s *Sender) every(ctx context.Context, interval time.Duration, fn func()) error {
	if interval <= 0 {
		return errors.New("notification: a loop interval must be positive")
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		fn()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
