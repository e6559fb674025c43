package catalogstore

import (
	"context"
	"log/slog"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bookworm-store/bookworm/internal/core/catalog"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
)

// SearchIndex is the lexical search's inverted index, held in memory beside
// the BookCache and kept current by the same notifications. Postgres stays
// the truth and does the linguistics: each book's search document is the
// tsvector Postgres wrote (title A, authors B, category and publisher C,
// description D, stemmed), and a query is what websearch_to_tsquery makes of
// the text. The index only matches and ranks: the set operations over
// posting lists are bitsets over the books, ranking reads the posting
// lists, and a page is the top of the ranking after the page token's
// (relevance, id), so every match is ranked, not a window of them.
//
// Why in memory: ranking in Postgres costs a heap fetch and a ts_rank per
// match, and a common word matches a tenth of the catalogue; at 100,000
// books that is several milliseconds of Postgres CPU per search, which two
// cores and eight concurrent searchers cannot afford (README, "Search at
// 100,000 books"). Here a broad search costs well under a millisecond.
//
// The index serves only while it can know every change: from the moment the
// cache's listening connection is up it loads every live book, and until
// that load is done, whenever the connection is lost, and while a change of
// many books at once (AllBooks) is reloaded, searches go to Postgres as
// before. A notified book is read again within milliseconds; a write through
// this BookCache reads its book again before it returns.
type SearchIndex struct {
	pool *pgxpool.Pool
	log  *slog.Logger

	ready    atomic.Bool
	disabled atomic.Bool
	// applied is called after changes were applied (the BookCache drops
	// its cached search pages, which may have been read from the index
	// before the change reached it).
	applied func()
	// readyWait is how long a search holding a token of the index's
	// ranking waits for the index to serve again.
	readyWait time.Duration
	// wake asks the worker to look at pending; reload asks for a full load.
	wake      chan struct{}
	pendingMu sync.Mutex
	pending   map[[16]byte]struct{}
	reload    bool
	busy      bool // the worker is applying what it took from pending

	// refreshMu orders reads of the database with their application to
	// the index, so that an older read is never applied after a newer one.
	refreshMu sync.Mutex

	mu    sync.RWMutex
	ords  map[[16]byte]uint32
	docs  []indexDoc
	ids   [][16]byte // docs[i].id, dense: ranking reads it for every match
	free  []uint32
	terms map[string]*postingList
	live  bitset
	// spaces are the books' embeddings, a graph per model and dimension
	// (index_vectors.go).
	spaces map[string]*vectorSpace
	// vectorTable: catalog.book_embeddings exists (pgvector is installed);
	// until it does, the books are read without vectors.
	vectorTable atomic.Bool
	vectorsOff  atomic.Bool
	// vectorScans counts the semantic searches answered by an exact scan
	// of a space rather than its graph.
	vectorScans atomic.Int64
	// graphsReady: the graphs serve; until a load's graphs are built
	// (buildGraphs, in the background), the vectors of the books changed
	// meanwhile wait in vecPending (x.mu held for the three). vecGen
	// counts the loads: a build for an older load is dropped.
	graphsReady bool
	vecPending  map[[16]byte]pendingVector
	vecGen      atomic.Uint64
	building    atomic.Int32 // graph builds running
}

// indexDoc is what the index keeps of a live book: its search document
// (as text: phrases are checked on it, and an update removes the old
// document's postings with it) and what the filters of ListBooks read.
type indexDoc struct {
	id        [16]byte
	live      bool
	search    string
	category  [16]byte
	publisher [16]byte
	authors   [][16]byte
	currency  string
	price     int64
	inStock   bool
	// space and node: the book's embedding, a node of that space's graph
	// (space nil: none).
	space *vectorSpace
	node  uint32
}

// indexRow is a book as read: its document and its embedding (space
// "model/dimension" and vector; vec nil when it has none).
type indexRow struct {
	indexDoc
	space string
	vec   []float32
}

// postingList is one lexeme's books and, per book, the highest weight
// class the lexeme has in it and where its positions are in data (a count,
// then the positions: what phrases are checked on). Removing a book leaves
// its positions in data as garbage, compacted when it is half of data.
type postingList struct {
	ords    []uint32
	best    []uint8
	at      []uint32
	data    []uint16
	garbage int
	// set is the books as a bitset, kept once the list is long
	// (denseList entries): a common word's matches are then copied, not
	// set one by one, on every search.
	set bitset
}

// denseList is the length from which a posting list keeps its bitset.
const denseList = 1024

func (p *postingList) add(ord uint32, l tsLexeme) {
	if p.set != nil {
		p.set.grow(int(ord) + 1)
		p.set.set(ord)
	} else if len(p.ords)+1 >= denseList {
		for _, o := range append(p.ords, ord) {
			p.set.grow(int(o) + 1)
			p.set.set(o)
		}
	}
	p.ords = append(p.ords, ord)
	p.best = append(p.best, l.best())
	p.at = append(p.at, uint32(len(p.data)))
	p.data = append(p.data, uint16(len(l.positions)))
	p.data = append(p.data, l.positions...)
}

// positions are the positions of the lexeme in the i-th book of the list.
func (p *postingList) positions(i int) []uint16 {
	a := p.at[i]
	return p.data[a+1 : a+1+uint32(p.data[a])]
}

// drop removes ord from the list, if there.
func (p *postingList) drop(ord uint32) {
	i := slices.Index(p.ords, ord)
	if i < 0 {
		return
	}
	if p.set != nil {
		p.set.clear(ord)
	}
	p.garbage += 1 + int(p.data[p.at[i]])
	last := len(p.ords) - 1
	p.ords[i], p.best[i], p.at[i] = p.ords[last], p.best[last], p.at[last]
	p.ords, p.best, p.at = p.ords[:last], p.best[:last], p.at[:last]
	if p.garbage*2 > len(p.data) {
		data := make([]uint16, 0, len(p.data)-p.garbage)
		for i := range p.ords {
			pos := p.positions(i)
			p.at[i] = uint32(len(data))
			data = append(data, uint16(len(pos)))
			data = append(data, pos...)
		}
		p.data, p.garbage = data, 0
	}
}

// NewSearchIndex returns an index that serves once Start's worker has
// loaded it.
func NewSearchIndex(pool *pgxpool.Pool, log *slog.Logger) *SearchIndex {
	if log == nil {
		log = slog.Default()
	}
	return &SearchIndex{pool: pool, log: log, readyWait: 3 * time.Second, wake: make(chan struct{}, 1), pending: map[[16]byte]struct{}{},
		ords: map[[16]byte]uint32{}, terms: map[string]*postingList{}}
}

// Idle reports whether every change noted so far has been applied.
func (x *SearchIndex) Idle() bool {
	x.pendingMu.Lock()
	defer x.pendingMu.Unlock()
	return !x.busy && !x.reload && len(x.pending) == 0 && x.building.Load() == 0
}

// DisableVectors keeps the embeddings out of the index: semantic searches
// are ranked by pgvector (call it before Run).
func (x *SearchIndex) DisableVectors() { x.vectorsOff.Store(true) }

// Ready reports whether searches are answered from the index.
func (x *SearchIndex) Ready() bool { return x != nil && x.ready.Load() }

// Disable keeps the index from ever loading: searches stay in Postgres.
func (x *SearchIndex) Disable() {
	x.disabled.Store(true)
	x.ready.Store(false)
}

// Reset drops what the index serves and asks for a full load: the
// listening connection is (again) up, so every change from now on will be
// notified.
func (x *SearchIndex) Reset() {
	x.ready.Store(false)
	if x.disabled.Load() {
		return
	}
	x.pendingMu.Lock()
	x.reload = true
	clear(x.pending)
	x.pendingMu.Unlock()
	x.signal()
}

// Stop stops serving: changes may now go unnoticed.
func (x *SearchIndex) Stop() { x.ready.Store(false) }

// Changed notes a notification's payload: a book id, or AllBooks.
func (x *SearchIndex) Changed(payload string) {
	if payload == AllBooks {
		x.Reset()
		return
	}
	id, ok := parseUUID(payload)
	if !ok {
		return
	}
	x.pendingMu.Lock()
	x.pending[id] = struct{}{}
	x.pendingMu.Unlock()
	x.signal()
}

func (x *SearchIndex) signal() {
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

// Run is the worker: full loads when asked, then the notified books, until
// ctx is done.
func (x *SearchIndex) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			x.ready.Store(false)
			return
		case <-x.wake:
		}
		x.pendingMu.Lock()
		reload := x.reload
		x.reload = false
		ids := make([][16]byte, 0, len(x.pending))
		for id := range x.pending {
			ids = append(ids, id)
		}
		clear(x.pending)
		x.busy = true
		x.pendingMu.Unlock()
		var err error
		switch {
		case reload:
			err = x.loadAll(ctx)
		case len(ids) > 0 && x.ready.Load():
			err = x.refresh(ctx, ids)
		}
		x.pendingMu.Lock()
		x.busy = false
		x.pendingMu.Unlock()
		if err != nil && ctx.Err() == nil {
			// Whatever was not applied is not known: load again, soon.
			x.log.WarnContext(ctx, "search index: reading books failed; searching in Postgres until it is loaded again", slog.Any("error", err))
			x.Reset()
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// RefreshNow reads one book again and applies it at once, so that a write
// through this process is searchable when it returns. When the index is
// not serving it does nothing (the next load reads the book).
func (x *SearchIndex) RefreshNow(ctx context.Context, id string) {
	u, ok := parseUUID(id)
	if !ok || !x.Ready() {
		return
	}
	if err := x.refresh(ctx, [][16]byte{u}); err != nil {
		x.Changed(id) // the worker tries again
	}
}

// indexRowsSQL reads what the index keeps of books, live or not, with
// their embeddings when pgvector is there.
func (x *SearchIndex) indexRowsSQL(ctx context.Context) (string, error) {
	if !x.vectorTable.Load() {
		var has bool
		if err := x.pool.QueryRow(ctx, `SELECT to_regclass('catalog.book_embeddings') IS NOT NULL`).Scan(&has); err != nil {
			return "", err
		}
		x.vectorTable.Store(has)
	}
	vectors, join := `NULL::text, NULL::real[]`, ``
	if x.vectorTable.Load() && !x.vectorsOff.Load() {
		vectors = `e.model, e.embedding::real[]`
		join = ` LEFT JOIN catalog.book_embeddings e ON e.book_id = b.id`
	}
	return `SELECT b.id, b.delete_time IS NULL, b.search::text, b.category_id, b.publisher_id,
	       coalesce((SELECT array_agg(a.author_id ORDER BY a.position) FROM catalog.book_authors a WHERE a.book_id = b.id), '{}'),
	       b.currency, b.effective_minor, b.stock > 0, ` + vectors + `
	  FROM catalog.books b` + join, nil
}

func scanIndexRow(rows pgx.Rows) (indexRow, error) {
	var (
		r         indexRow
		cat, pub  *[16]byte
		authorIDs [][16]byte
		space     *string // the embedding's model
	)
	d := &r.indexDoc
	err := rows.Scan(&d.id, &d.live, &d.search, &cat, &pub, &authorIDs, &d.currency, &d.price, &d.inStock, &space, &r.vec)
	if cat != nil {
		d.category = *cat
	}
	if pub != nil {
		d.publisher = *pub
	}
	d.authors = authorIDs
	if space != nil && len(r.vec) > 0 {
		// Named by the vector's own length: a graph never meets a vector
		// of another dimension.
		r.space = spaceName(*space, len(r.vec))
	} else {
		r.vec = nil
	}
	return r, err
}

// loadAll reads every live book into a fresh index and serves it; books
// notified meanwhile are pending and read again after.
func (x *SearchIndex) loadAll(ctx context.Context) error {
	x.refreshMu.Lock()
	defer x.refreshMu.Unlock()
	start := time.Now()
	// The fresh index collects the vectors (vecPending) for the graphs,
	// built after it serves the words.
	fresh := &SearchIndex{log: x.log, ords: map[[16]byte]uint32{}, terms: map[string]*postingList{},
		vecPending: map[[16]byte]pendingVector{}}
	sql, err := x.indexRowsSQL(ctx)
	if err != nil {
		return err
	}
	// In id order: replicas loading the same books build the same graphs.
	rows, err := x.pool.Query(ctx, sql+` WHERE b.delete_time IS NULL ORDER BY b.id`)
	if err != nil {
		return err
	}
	for rows.Next() {
		r, err := scanIndexRow(rows)
		if err != nil {
			rows.Close()
			return err
		}
		fresh.put(r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	gen := x.vecGen.Add(1)
	x.mu.Lock()
	x.ords, x.docs, x.ids, x.free, x.terms, x.live = fresh.ords, fresh.docs, fresh.ids, fresh.free, fresh.terms, fresh.live
	x.spaces, x.graphsReady, x.vecPending = nil, false, map[[16]byte]pendingVector{}
	x.mu.Unlock()
	x.building.Add(1)
	go x.buildGraphs(ctx, gen, fresh.vecPending)
	x.pendingMu.Lock()
	again := x.reload // an AllBooks during the load: this load may be stale
	x.pendingMu.Unlock()
	if !again {
		x.ready.Store(true)
		x.signal() // the books notified during the load
	}
	if x.applied != nil {
		x.applied()
	}
	x.log.InfoContext(ctx, "search index: loaded", slog.Int("books", len(fresh.ords)),
		slog.Int("lexemes", len(fresh.terms)), slog.Int("vectors", len(fresh.vecPending)), slog.Duration("took", time.Since(start)))
	return nil
}

// refresh reads the books again and applies what it read.
func (x *SearchIndex) refresh(ctx context.Context, ids [][16]byte) error {
	x.refreshMu.Lock()
	defer x.refreshMu.Unlock()
	sql, err := x.indexRowsSQL(ctx)
	if err != nil {
		return err
	}
	rows, err := x.pool.Query(ctx, sql+` WHERE b.id = ANY ($1::uuid[])`, ids)
	if err != nil {
		return err
	}
	var docs []indexRow
	for rows.Next() {
		r, err := scanIndexRow(rows)
		if err != nil {
			rows.Close()
			return err
		}
		docs = append(docs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	seen := make(map[[16]byte]bool, len(docs))
	x.mu.Lock()
	defer func() {
		worn := x.vectorsWorn()
		x.mu.Unlock()
		if worn {
			// Removed nodes still route searches; past a third of a
			// graph, load it again (Postgres answers meanwhile).
			x.Reset()
		}
		if x.applied != nil {
			x.applied()
		}
	}()
	for _, r := range docs {
		seen[r.id] = true
		if r.live {
			x.put(r)
		} else {
			x.remove(r.id)
		}
	}
	for _, id := range ids {
		if !seen[id] { // gone from the table
			x.remove(id)
		}
	}
	return nil
}

// put adds or replaces a live book (x.mu held, or x private).
func (x *SearchIndex) put(r indexRow) {
	d := r.indexDoc
	var (
		oldSpace *vectorSpace
		oldNode  uint32
	)
	if ord, ok := x.ords[d.id]; ok {
		old := &x.docs[ord]
		oldSpace, oldNode = old.space, old.node
		if old.search == d.search { // stock, price, rating: postings unchanged
			*old = d
			x.setVector(ord, oldSpace, oldNode, r.space, r.vec)
			return
		}
		x.unindex(d.id)
	}
	lexemes, err := parseTSVector(d.search)
	if err != nil {
		// Postgres printed something we cannot read: index the book
		// without words rather than lose its filters, and say so.
		if x.log != nil {
			x.log.Warn("search index: a search document it cannot read; the book is found by Postgres only",
				slog.String("book_id", uuidText(d.id)))
		}
		d.search, lexemes = "", nil
	}
	var ord uint32
	if n := len(x.free); n > 0 {
		ord, x.free = x.free[n-1], x.free[:n-1]
		x.docs[ord], x.ids[ord] = d, d.id
	} else {
		ord = uint32(len(x.docs))
		x.docs, x.ids = append(x.docs, d), append(x.ids, d.id)
		x.live.grow(len(x.docs))
	}
	x.ords[d.id] = ord
	x.live.set(ord)
	for _, l := range lexemes {
		p := x.terms[l.word]
		if p == nil {
			p = &postingList{}
			x.terms[l.word] = p
		}
		p.add(ord, l)
	}
	x.setVector(ord, oldSpace, oldNode, r.space, r.vec)
}

// remove drops a book and its vector, if indexed (x.mu held).
func (x *SearchIndex) remove(id [16]byte) {
	if ord, ok := x.ords[id]; ok && x.docs[ord].space != nil {
		x.dropVector(x.docs[ord].space, x.docs[ord].node)
	}
	if !x.graphsReady && x.vecPending != nil {
		x.vecPending[id] = pendingVector{} // gone, for the graphs being built
	}
	x.unindex(id)
}

// unindex drops a book's document, leaving its vector's node to the caller
// (x.mu held).
func (x *SearchIndex) unindex(id [16]byte) {
	ord, ok := x.ords[id]
	if !ok {
		return
	}
	lexemes, _ := parseTSVector(x.docs[ord].search)
	for _, l := range lexemes {
		p := x.terms[l.word]
		if p == nil {
			continue
		}
		if p.drop(ord); len(p.ords) == 0 {
			delete(x.terms, l.word)
		}
	}
	delete(x.ords, id)
	x.docs[ord], x.ids[ord] = indexDoc{}, [16]byte{}
	x.live.clear(ord)
	x.free = append(x.free, ord)
}

// Len returns the number of books indexed.
func (x *SearchIndex) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.ords)
}

// isLive reports whether the index holds the book as live (x.mu held).
func (x *SearchIndex) isLive(id [16]byte) bool {
	_, ok := x.ords[id]
	return ok
}

// indexFilter is a BookFilter in the index's terms.
type indexFilter struct {
	any                             bool
	categories, publishers, authors map[[16]byte]bool
	currency                        string
	minPrice, maxPrice              int64
	hasMin, hasMax, inStockOnly     bool
}

func newIndexFilter(f catalog.BookFilter) indexFilter {
	set := func(ids []string) map[[16]byte]bool {
		if len(ids) == 0 {
			return nil
		}
		m := make(map[[16]byte]bool, len(ids))
		for _, s := range ids {
			if u, ok := parseUUID(s); ok {
				m[u] = true
			}
		}
		return m
	}
	out := indexFilter{categories: set(f.CategoryIDs), publishers: set(f.PublisherIDs), authors: set(f.AuthorIDs),
		currency: f.Currency(), inStockOnly: f.InStockOnly}
	if !f.MinPrice.IsZero() {
		out.hasMin, out.minPrice = true, f.MinPrice.Minor()
	}
	if !f.MaxPrice.IsZero() {
		out.hasMax, out.maxPrice = true, f.MaxPrice.Minor()
	}
	out.any = len(f.CategoryIDs)+len(f.PublisherIDs)+len(f.AuthorIDs) > 0 || out.currency != "" || out.inStockOnly
	return out
}

// passes is filterSQL's predicate on an indexed book.
func (f *indexFilter) passes(d *indexDoc) bool {
	if !f.any {
		return true
	}
	var none [16]byte // no category or publisher: NULL matches no filter
	if f.categories != nil && (d.category == none || !f.categories[d.category]) ||
		f.publishers != nil && (d.publisher == none || !f.publishers[d.publisher]) {
		return false
	}
	if f.authors != nil {
		found := false
		for _, a := range d.authors {
			if f.authors[a] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if f.currency != "" && d.currency != f.currency || f.hasMin && d.price < f.minPrice || f.hasMax && d.price > f.maxPrice {
		return false
	}
	return !f.inStockOnly || d.inStock
}

// bitset is a set of ordinals.
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

func (b *bitset) grow(n int) {
	for len(*b)*64 < n {
		*b = append(*b, 0)
	}
}
func (b bitset) set(i uint32)      { b[i/64] |= 1 << (i % 64) }
func (b bitset) clear(i uint32)    { b[i/64] &^= 1 << (i % 64) }
func (b bitset) has(i uint32) bool { return int(i/64) < len(b) && b[i/64]&(1<<(i%64)) != 0 }
func (b bitset) and(o bitset) {
	for i := range b {
		b[i] &= o[i]
	}
}
func (b bitset) or(o bitset) {
	for i := range b {
		b[i] |= o[i]
	}
}
func (b bitset) andNot(o bitset) {
	for i := range b {
		b[i] &^= o[i]
	}
}
func (b bitset) count() (n int) {
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

// eachReverse calls f with every ordinal in the set, last first (newer
// books first, mostly: ordinals are given in load order, by id).
func (b bitset) eachReverse(f func(uint32)) {
	for i := len(b) - 1; i >= 0; i-- {
		for w := b[i]; w != 0; {
			t := 63 - bits.LeadingZeros64(w)
			f(uint32(i*64 + t))
			w &^= 1 << t
		}
	}
}

// each calls f with every ordinal in the set, in order.
func (b bitset) each(f func(uint32)) {
	for i, w := range b {
		for w != 0 {
			t := bits.TrailingZeros64(w)
			f(uint32(i*64 + t))
			w &= w - 1
		}
	}
}

// parseUUID reads a book id as the rest of the store accepts it
// (coreid.Valid).
func parseUUID(s string) ([16]byte, bool) {
	if !coreid.Valid(s) {
		return [16]byte{}, false
	}
	u, err := uuid.Parse(s)
	return u, err == nil
}

// uuidText is the canonical text of u.
func uuidText(u [16]byte) string { return uuid.UUID(u).String() }
