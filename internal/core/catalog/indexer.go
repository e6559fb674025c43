package catalog

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Indexer keeps the books' embeddings current: it embeds, in batches, every
// book the EmbeddingStore reports pending (new, changed text, another model)
// until none is left, then waits for Nudge or its idle interval. The
// backfill of a catalog without embeddings is the same loop; as the pending
// set lives in the store, a restart resumes where it stopped. While the
// Embedder is unavailable it backs off (1 s doubling to a minute) and
// reports the outage once.
type Indexer struct {
	store    EmbeddingStore
	embedder Embedder
	model    string
	log      *slog.Logger
	nudge    chan struct{}

	// Batch is the number of books embedded per call (32); Idle how long
	// it waits for a nudge before looking again (30 s).
	Batch int
	Idle  time.Duration
}

// NewIndexer returns an Indexer that embeds with embedder, whose vectors it
// stores as made by model.
func NewIndexer(store EmbeddingStore, embedder Embedder, model string, log *slog.Logger) *Indexer {
	return &Indexer{store: store, embedder: embedder, model: model, log: log, nudge: make(chan struct{}, 1),
		Batch: 32, Idle: 30 * time.Second}
}

// Nudge tells the indexer that books may be pending; it never blocks.
func (x *Indexer) Nudge() {
	select {
	case x.nudge <- struct{}{}:
	default:
	}
}

// Run embeds until ctx ends; it returns nil then.
func (x *Indexer) Run(ctx context.Context) error {
	var (
		after   string
		done    int
		total   = -1
		backoff = time.Second
		down    bool
		lastLog time.Time
	)
	wait := func(d time.Duration, nudged bool) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		var nudge <-chan struct{}
		if nudged {
			nudge = x.nudge
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		case <-nudge:
		}
		return true
	}
	for ctx.Err() == nil {
		if total < 0 {
			n, err := x.store.CountPendingEmbeddings(ctx, x.model)
			if err == nil {
				total, done = n, 0
				if n > 0 {
					x.log.Info("embeddings: books to embed", "pending", n, "model", x.model)
				}
			}
		}
		recs, err := x.store.PendingEmbeddings(ctx, x.model, after, x.Batch)
		if err != nil {
			if ctx.Err() == nil {
				x.log.Warn("embeddings: reading pending books failed", "err", err)
			}
			if !wait(backoff, false) {
				return nil
			}
			continue
		}
		if len(recs) == 0 {
			if after != "" { // books that became pending behind the cursor
				after = ""
				continue
			}
			if done > 0 {
				x.log.Info("embeddings: all books embedded", "embedded", done, "model", x.model)
			}
			total = -1
			if !wait(x.Idle, true) {
				return nil
			}
			continue
		}
		texts := make([]string, len(recs))
		for i, r := range recs {
			texts[i] = EmbeddingText(r)
		}
		embs, err := x.embedder.Embed(ctx, texts)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !down {
				x.log.Warn("embeddings: embedder unavailable, retrying with back-off", "err", err)
				down = true
			}
			if !wait(backoff, false) {
				return nil
			}
			backoff = min(2*backoff, time.Minute)
			continue
		}
		if down {
			x.log.Info("embeddings: embedder back")
			down, backoff = false, time.Second
		}
		if len(embs.Vectors) != len(recs) {
			return errors.New("embeddings: embedder returned another number of vectors")
		}
		items := make([]BookEmbedding, len(recs))
		for i, r := range recs {
			items[i] = BookEmbedding{BookID: r.ID, Version: r.Version, TextHash: TextHash(texts[i]), Vector: embs.Vectors[i]}
		}
		if err := x.store.PutEmbeddings(ctx, x.model, items); err != nil {
			if ctx.Err() == nil {
				x.log.Warn("embeddings: storing failed", "err", err)
			}
			if !wait(backoff, false) {
				return nil
			}
			continue
		}
		after = recs[len(recs)-1].ID
		done += len(recs)
		if time.Since(lastLog) > 10*time.Second {
			x.log.Info("embeddings: progress", "embedded", done, "of", total, "model", x.model)
			lastLog = time.Now()
		}
	}
	return nil
}
