package notification

import (
	"context"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/id"
)

// Outcome is what handling one notice did.
type Outcome struct {
	// Queued is true when an email was queued.
	Queued bool
	// EmailID is the queued email's id.
	EmailID string
	// Skip says why no email was queued, when none was.
	Skip Skip
}

// Notifier turns notices into queued emails.
type Notifier struct {
	render *Renderer
	now    func() time.Time
	stats  *Counters
}

// NewNotifier returns a notifier rendering with r. now may be nil for the
// wall clock; stats may be nil.
func NewNotifier(r *Renderer, now func() time.Time, stats *Counters) *Notifier {
	if now == nil {
		now = time.Now
	}
	if stats == nil {
		stats = &Counters{}
	}
	return &Notifier{render: r, now: now, stats: stats}
}

// Notify queues the email notice n makes, at most once per order version
// (Decide), through q. It is idempotent: the same notice again queues
// nothing. ErrNoRecipient and ErrInvalidNotice come back as errors.
func (s *Notifier) Notify(ctx context.Context, q Queue, n Notice) (Outcome, error) {
	var out Outcome
	queued, err := q.UpdateOrder(ctx, n.OrderID, func(st *OrderState) (*Email, error) {
		out = Outcome{}
		to, skip, err := Decide(st, n)
		if err != nil || skip != SkipNone {
			out.Skip = skip
			return nil, err
		}
		content, err := s.render.Render(n, to)
		if err != nil {
			return nil, err
		}
		now := s.now().UTC()
		e := &Email{
			ID: id.New(), OrderID: n.OrderID, Kind: n.Kind, Version: n.Version, To: to, Content: content,
			Status: StatusPending, CreateTime: now, NextAttemptTime: now,
		}
		out.EmailID = e.ID
		return e, nil
	})
	if err != nil {
		return Outcome{}, err
	}
	out.Queued = queued
	if queued {
		s.stats.queued.Add(1)
	} else if out.Skip == SkipNone {
		out.Skip = SkipSeen // the store had the email already
	}
	return out, nil
}
