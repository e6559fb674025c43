package catalogstore

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
)

// The page-token modes of searches ranked by the SearchIndex, beside the
// modes of searches ranked in Postgres (search.go, semantic.go): a token
// of one never continues the other's ranking.
const (
	// indexExact ranks the exact matches of the query.
	indexExact = 20 + iota
	// indexWords ranks the exact matches, then (below them) the matches
	// of the query with its words corrected through the lexicon.
	indexWords
	// indexHybrid fuses the index's lexical ranking with the vector one.
	indexHybrid
	// indexAny ranks the books matching any word of the query, exact or
	// corrected: a query whose words no book has together.
	indexAny
)

// correctBelow: a search whose exact matches are fewer than this also
// shows the matches of its words corrected through the lexicon (a typo
// correction, ranked below every exact match).
const correctBelow = 20

// weightValues are the worth of a lexeme's best weight class in a book,
// D to A, as rankWeights: a title word outranks an author's name, which
// outranks the category or publisher, which outranks the description.
var weightValues = [4]float32{0.1, 0.2, 0.4, 1.0}

// scored is a ranked book: its ordinal in the index (or none), id and
// relevance.
type scored struct {
	id  [16]byte
	rel float64
}

// before reports whether a comes before b in a search's order: higher
// relevance first, ties newer (higher id) first.
func (a scored) before(b scored) bool {
	if a.rel != b.rel {
		return a.rel > b.rel
	}
	return bytes.Compare(a.id[:], b.id[:]) > 0
}

// top keeps the best k of what it is offered, in order.
type top struct {
	k     int
	items []scored
}

func (t *top) offer(s scored) {
	n := len(t.items)
	if n == t.k && !s.before(t.items[n-1]) {
		return
	}
	i, _ := slices.BinarySearchFunc(t.items, s, func(e, target scored) int {
		if e.before(target) {
			return -1
		}
		return 1
	})
	if n < t.k {
		t.items = append(t.items, scored{})
	}
	copy(t.items[i+1:], t.items[i:])
	t.items[i] = s
}

// scores are pooled per-book accumulators, one float per ordinal.
var scores = sync.Pool{New: func() any { return new([]float32) }}

// eval returns the books matching n (x.mu read-held).
func (x *SearchIndex) eval(n *tsNode) (bitset, error) {
	switch n.op {
	case 0:
		b := newBitset(len(x.docs))
		switch p := x.terms[n.word]; {
		case p == nil:
		case p.set != nil:
			copy(b, p.set)
		default:
			for _, o := range p.ords {
				b.set(o)
			}
		}
		return b, nil
	case '!':
		m, err := x.eval(n.left)
		if err != nil {
			return nil, err
		}
		out := slices.Clone(x.live)
		out.andNot(m)
		return out, nil
	}
	l, err := x.eval(n.left)
	if err != nil {
		return nil, err
	}
	r, err := x.eval(n.right)
	if err != nil {
		return nil, err
	}
	switch n.op {
	case '|':
		l.or(r)
		return l, nil
	case '&':
		l.and(r)
		return l, nil
	}
	// A phrase: both sides, then the positions of its lexemes in the
	// books left, read from the posting lists.
	l.and(r)
	at := map[string]map[uint32][]uint16{}
	for _, w := range n.positives(nil) {
		m := map[uint32][]uint16{}
		if p := x.terms[w]; p != nil {
			for i, o := range p.ords {
				if l.has(o) {
					m[o] = p.positions(i)
				}
			}
		}
		at[w] = m
	}
	out := newBitset(len(x.docs))
	var failed error
	l.each(func(o uint32) {
		if failed != nil {
			return
		}
		ps, err := phrasePositions(n, func(w string) []uint16 { return at[w][o] })
		if err != nil {
			failed = err
		} else if len(ps) > 0 {
			out.set(o)
		}
	})
	return out, failed
}

// phrasePositions are the positions where n ends in a book whose lexemes
// are at the positions at gives: for "a <N> b", those of b with a N
// before. A conjunction or negation inside a phrase (which
// websearch_to_tsquery does not make) is refused: Postgres answers it.
func phrasePositions(n *tsNode, at func(string) []uint16) ([]uint16, error) {
	switch n.op {
	case 0:
		return at(n.word), nil
	case '|':
		l, err := phrasePositions(n.left, at)
		if err != nil {
			return nil, err
		}
		r, err := phrasePositions(n.right, at)
		if err != nil {
			return nil, err
		}
		out := append(slices.Clone(l), r...)
		slices.Sort(out)
		return slices.Compact(out), nil
	case '<':
		l, err := phrasePositions(n.left, at)
		if err != nil || len(l) == 0 {
			return nil, err
		}
		r, err := phrasePositions(n.right, at)
		if err != nil {
			return nil, err
		}
		var out []uint16
		for _, p := range r {
			if int(p)-n.dist >= 1 && slices.Contains(l, p-uint16(n.dist)) {
				out = append(out, p)
			}
		}
		return out, nil
	}
	return nil, errTSText
}

// excluded returns the books of the negated parts of n (x.mu read-held).
func (x *SearchIndex) excluded(n *tsNode, out bitset) error {
	if n == nil || n.op == 0 {
		return nil
	}
	if n.op == '!' {
		m, err := x.eval(n.left)
		if err == nil {
			out.or(m)
		}
		return err
	}
	if err := x.excluded(n.left, out); err != nil {
		return err
	}
	return x.excluded(n.right, out)
}

// accumulate adds to acc each book's worth for the lexemes (x.mu
// read-held).
func (x *SearchIndex) accumulate(acc []float32, lexemes []string) {
	for _, w := range lexemes {
		if p := x.terms[w]; p != nil {
			for i, o := range p.ords {
				acc[o] += weightValues[p.best[i]]
			}
		}
	}
}

// lexicalQuery is a lexical search in the index's terms: the exact query,
// and for indexWords and indexAny the corrected one; first says the mode
// may still change (a first page).
type lexicalQuery struct {
	exact, fuzzy *tsNode
	mode         int
	first        bool
}

// pooledScores returns a zeroed accumulator for n books and its release,
// which zeroes what the lexemes' postings touched (x.mu read-held), not the
// whole array.
func (x *SearchIndex) pooledScores(n int, lexemes *[]string) ([]float32, func()) {
	p := scores.Get().(*[]float32)
	if cap(*p) < n {
		*p = make([]float32, n) // zeroed; pooled arrays are kept zeroed
	}
	acc := (*p)[:n]
	return acc, func() {
		x.zeroScores(acc, *lexemes)
		scores.Put(p)
	}
}

// zeroScores zeroes what accumulate(acc, lexemes) added to (x.mu
// read-held).
func (x *SearchIndex) zeroScores(acc []float32, lexemes []string) {
	for _, w := range lexemes {
		if pl := x.terms[w]; pl != nil {
			for _, o := range pl.ords {
				acc[o] = 0
			}
		}
	}
}

// rankLexical returns the best k filtered matches of lq after key (when
// not nil) and the mode that ranked them. A first page in searchFirst mode
// is ranked indexExact when it has at least correctBelow exact matches;
// otherwise it returns no books and indexWords, and the caller asks the
// lexicon for the corrected query and calls again. A first page in
// indexWords mode that matches nothing becomes indexAny: the books
// matching any of the words, exact or corrected, most words first.
func (x *SearchIndex) rankLexical(lq lexicalQuery, f *indexFilter, key *scored, k int) ([]scored, int, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := len(x.docs)
	exact := newBitset(n)
	if lq.exact != nil {
		var err error
		if exact, err = x.eval(lq.exact); err != nil {
			return nil, 0, err
		}
	}
	mode := lq.mode
	if mode == searchFirst {
		c := 0
		exact.eachReverse(func(o uint32) {
			if c < correctBelow && f.passes(&x.docs[o]) {
				c++
			}
		})
		if c < correctBelow {
			return nil, indexWords, nil
		}
		mode = indexExact
	}
	var eWords, fWords []string // what the accumulators were given
	eacc, release := x.pooledScores(n, &eWords)
	defer release()
	match := exact
	var (
		fuzzy bitset
		facc  []float32
	)
	rank := func() []scored {
		t := top{k: k, items: make([]scored, 0, k)}
		match.eachReverse(func(o uint32) {
			var rel float64
			switch {
			case mode == indexAny:
				v := float64(eacc[o])
				rel = v / (v + 1)
			case exact.has(o):
				v := float64(eacc[o])
				rel = 1 + v/(v+1)
			default:
				v := float64(facc[o])
				rel = v / (v + 1)
			}
			// Cheap rejections first: most matches of a broad word
			// rank below a full page.
			if len(t.items) == t.k && rel < t.items[t.k-1].rel || key != nil && rel > key.rel {
				return
			}
			if f.any && !f.passes(&x.docs[o]) {
				return
			}
			if s := (scored{id: x.ids[o], rel: rel}); key == nil || key.before(s) {
				t.offer(s)
			}
		})
		return t.items
	}
	if mode != indexAny {
		eWords = lq.exact.positives(nil)
		x.accumulate(eacc, eWords)
		if mode == indexWords && lq.fuzzy != nil {
			var err error
			if fuzzy, err = x.eval(lq.fuzzy); err != nil {
				return nil, 0, err
			}
			match = slices.Clone(exact)
			match.or(fuzzy)
			var release func()
			facc, release = x.pooledScores(n, &fWords)
			defer release()
			fWords = lq.fuzzy.positives(nil)
			x.accumulate(facc, fWords)
		}
		items := rank()
		if len(items) > 0 || !lq.first || mode != indexWords {
			return items, mode, nil
		}
		mode = indexAny
		x.zeroScores(eacc, eWords)
	}
	// indexAny: any word, exact or corrected, but none excluded.
	words := lq.fuzzy.positives(lq.exact.positives(nil))
	match = newBitset(n)
	for _, w := range words {
		if p := x.terms[w]; p != nil {
			for _, o := range p.ords {
				match.set(o)
			}
		}
	}
	not := newBitset(n)
	if err := x.excluded(lq.exact, not); err != nil {
		return nil, 0, err
	}
	match.andNot(not)
	eWords = words
	x.accumulate(eacc, words)
	return rank(), mode, nil
}

// waitReady waits up to d for the index to serve.
func (x *SearchIndex) waitReady(ctx context.Context, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for !x.Ready() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// exactTSQuerySQL is the query's tsquery as text; the lexicon is read only
// when the exact matches are few (tsQueries).
const exactTSQuerySQL = `SELECT websearch_to_tsquery('english', $1::text)::text`

// rankLexical ranks a search's lexical matches in the index: the best k
// after key, and the mode that ranked them (see SearchIndex.rankLexical).
func (c *BookCache) rankLexical(ctx context.Context, q catalog.SearchBooksQuery, f *indexFilter, mode int, key *scored, k int) ([]scored, int, error) {
	var text string
	if err := c.pool.QueryRow(ctx, exactTSQuerySQL, q.Query).Scan(&text); err != nil {
		return nil, 0, err
	}
	exact, err := parseTSQuery(text)
	if err != nil {
		return nil, 0, err
	}
	lq := lexicalQuery{exact: exact, mode: mode}
	if mode == searchFirst {
		items, m, err := c.index.rankLexical(lq, f, key, k)
		if err != nil || m == indexExact {
			return items, m, err
		}
		lq.mode, lq.first = indexWords, true
	}
	if lq.mode == indexWords || lq.mode == indexAny {
		tq, err := c.inner.tsQueries(ctx, q.Query)
		if err != nil {
			return nil, 0, err
		}
		if tq.fuzzy != nil {
			if lq.fuzzy, err = parseTSQuery(*tq.fuzzy); err != nil {
				return nil, 0, err
			}
		}
	}
	return c.index.rankLexical(lq, f, key, k)
}

// searchIndexed answers a search with the SearchIndex ranking the lexical
// side and pgvector the vector side, the books coming from the cache.
// handled is false when Postgres must answer: the index is not serving,
// the token is one of a Postgres ranking, the query is one the index does
// not read, or nothing matches the words (the trigram fallback).
func (c *BookCache) searchIndexed(ctx context.Context, q catalog.SearchBooksQuery) (page catalog.SearchPage, handled bool, err error) {
	query := searchFingerprint(q).Sum()
	cur, after, err := decodeCursor(q.PageToken, query)
	if err != nil {
		return page, true, err
	}
	ours := after && (cur.Mode == indexExact || cur.Mode == indexWords || cur.Mode == indexAny || cur.Mode == indexHybrid ||
		cur.Mode == indexSemantic)
	if !c.index.Ready() {
		if !ours {
			return page, false, nil
		}
		// A token of another replica's index, or of ours before a
		// reconnection: Postgres cannot continue its ranking.
		if !c.index.waitReady(ctx, c.index.readyWait) {
			return page, true, failure.ErrUnavailable
		}
	}
	if after && !ours && cur.Mode != searchSemantic {
		return page, false, nil
	}
	f := newIndexFilter(q.Filter)
	var key *scored
	if after {
		u, _ := parseUUID(cur.ID)
		key = &scored{id: u, rel: cur.Float}
	}

	semantic := after && (cur.Mode == searchSemantic || cur.Mode == indexSemantic || cur.Mode == indexHybrid) ||
		!after && q.Mode != catalog.SearchLexical && q.Embedding != nil
	if semantic {
		if q.Embedding == nil {
			return page, true, failure.ErrUnavailable
		}
		// The index's graph of the query's space answers when it has one;
		// else pgvector does, the books still coming from the cache.
		space := spaceName(q.EmbeddingModel, len(q.Embedding))
		inMemory := c.index.hasSpace(space)
		has := inMemory
		if !has {
			if has, err = c.inner.hasEmbeddings(ctx, q.EmbeddingModel, len(q.Embedding)); err != nil {
				return page, true, err
			}
		}
		switch {
		case !has && after:
			return page, true, failure.ErrUnavailable
		case !has:
			page, handled, err = c.lexicalIndexed(ctx, q, query, &f, searchFirst, nil)
			page.Mode, page.Degraded = catalog.SearchLexical, catalog.DegradedNotEmbedded
			return page, handled, err
		}
		want := indexHybrid
		if q.Mode == catalog.SearchSemantic {
			want = indexSemantic
			if after && cur.Mode == searchSemantic || !after && !inMemory {
				want = searchSemantic // pgvector's ranking, continued there
			}
		}
		if after && cur.Mode != want {
			return page, true, postgres.ErrPageToken
		}
		var ranked []scored
		if want == indexHybrid {
			ranked, err = c.hybridIndexed(ctx, q, &f, key, inMemory)
		} else {
			ranked, err = c.semanticIndexed(ctx, q, &f, key, cur.Depth, q.PageSize+1+tieSlack, want == indexSemantic)
		}
		if err != nil {
			return page, true, err
		}
		page, err = c.pageOf(ctx, q, query, want, cur.Depth, ranked)
		page.Mode = catalog.SearchSemantic
		if want == indexHybrid {
			page.Mode = catalog.SearchHybrid
		}
		return page, true, err
	}
	mode := searchFirst
	if after {
		mode = cur.Mode
	}
	return c.lexicalIndexed(ctx, q, query, &f, mode, key)
}

// lexicalIndexed answers a lexical search from the index; a first page
// that matches nothing at all is left to Postgres (the trigram fallback).
func (c *BookCache) lexicalIndexed(ctx context.Context, q catalog.SearchBooksQuery, query uint64, f *indexFilter, mode int, key *scored) (catalog.SearchPage, bool, error) {
	ranked, mode, err := c.rankLexical(ctx, q, f, mode, key, q.PageSize+1)
	switch {
	case err == errTSText && key == nil, err == nil && len(ranked) == 0 && key == nil:
		return catalog.SearchPage{}, false, nil
	case err != nil:
		return catalog.SearchPage{}, true, err
	}
	page, err := c.pageOf(ctx, q, query, mode, 0, ranked)
	return page, true, err
}

// semanticIndexed returns up to limit nearest books after key by
// relevance (1 - cosine distance), ordered: from the index's graph when
// inMemory, else from pgvector.
func (c *BookCache) semanticIndexed(ctx context.Context, q catalog.SearchBooksQuery, f *indexFilter, key *scored, depth, limit int, inMemory bool) ([]scored, error) {
	if inMemory {
		out, ok := c.index.nearest(spaceName(q.EmbeddingModel, len(q.Embedding)), q.Embedding, f, key, depth, limit)
		if ok {
			return out, nil
		}
		// The graphs went meanwhile (a load, their build): pgvector
		// ranks the same distances (to float rounding), after the same
		// key.
	}
	var out []scored
	for {
		rows, err := c.inner.nearest(ctx, q, !f.any, key, depth, limit)
		if err != nil {
			return nil, err
		}
		c.index.mu.RLock()
		for _, r := range rows {
			// Without filters the statement does not read the books: a
			// book deleted since its vector was written is left out here.
			if f.any || c.index.isLive(r.id) {
				out = append(out, r)
			}
		}
		c.index.mu.RUnlock()
		if len(rows) < limit || len(out) >= limit {
			break
		}
		last := rows[len(rows)-1]
		key = &last
	}
	slices.SortFunc(out, func(a, b scored) int {
		if a.before(b) {
			return -1
		}
		return 1
	})
	return out, nil
}

// hybridIndexed fuses the best hybridDepth of the lexical and the vector
// rankings by reciprocal rank fusion and returns what comes after key.
func (c *BookCache) hybridIndexed(ctx context.Context, q catalog.SearchBooksQuery, f *indexFilter, key *scored, inMemory bool) ([]scored, error) {
	lex, _, err := c.rankLexical(ctx, q, f, searchFirst, nil, hybridDepth)
	if err != nil && err != errTSText {
		return nil, err
	}
	sem, err := c.semanticIndexed(ctx, q, f, nil, 0, hybridDepth, inMemory)
	if err != nil {
		return nil, err
	}
	// The vector side in distance order, ties by id ascending.
	slices.SortStableFunc(sem, func(a, b scored) int {
		switch {
		case a.rel != b.rel:
			if a.rel > b.rel {
				return -1
			}
			return 1
		default:
			return bytes.Compare(a.id[:], b.id[:])
		}
	})
	fused := map[[16]byte]float64{}
	for i, s := range lex {
		fused[s.id] += 1.0 / float64(rrfK+i+1)
	}
	for i, s := range sem[:min(len(sem), hybridDepth)] {
		fused[s.id] += 1.0 / float64(rrfK+i+1)
	}
	out := make([]scored, 0, len(fused))
	for id, rel := range fused {
		s := scored{id: id, rel: rel}
		if key == nil || key.before(s) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b scored) int {
		if a.before(b) {
			return -1
		}
		return 1
	})
	return out, nil
}

// pageOf turns ranked books (after the token, in order) into a page: the
// first PageSize found, and a token when more follow.
func (c *BookCache) pageOf(ctx context.Context, q catalog.SearchBooksQuery, query uint64, mode, depth int, ranked []scored) (catalog.SearchPage, error) {
	var page catalog.SearchPage
	n := min(len(ranked), q.PageSize)
	ids := make([]string, n)
	for i := range n {
		ids[i] = uuidText(ranked[i].id)
	}
	books, err := c.GetBooks(ctx, ids)
	if err != nil {
		return page, errTable.Translate(ctx, err, "books")
	}
	byID := make(map[string]*catalog.Book, len(books))
	for _, b := range books {
		byID[b.ID()] = b
	}
	for i := range n {
		// A book deleted since it was ranked is left out.
		if b := byID[ids[i]]; b != nil && !b.Deleted() {
			page.Hits = append(page.Hits, catalog.SearchHit{Book: b, Relevance: ranked[i].rel})
		}
	}
	if len(ranked) > q.PageSize {
		last := ranked[q.PageSize-1]
		next := cursor{Query: query, Float: last.rel, ID: uuidText(last.id), Mode: mode}
		if mode == searchSemantic || mode == indexSemantic {
			next.Depth = depth + q.PageSize
		}
		page.NextPageToken = next.encode()
	}
	return page, nil
}

// nearest selects up to limit books nearest to q's embedding after key,
// as (id, 1 - distance). lean leaves the books table out (no filters: the
// caller drops deleted books itself).
func (s *Books) nearest(ctx context.Context, q catalog.SearchBooksQuery, lean bool, key *scored, depth, limit int) ([]scored, error) {
	var (
		a   postgres.Args
		cur cursor
	)
	if key != nil {
		cur = cursor{Float: key.rel, ID: uuidText(key.id)}
	}
	sql := semanticOrderSQL(q, &a, cur, key != nil, limit, depth >= deepSemantic, lean)
	// The connections' settings suit a page (postgres.PoolConfig); a
	// statement wanting more candidates sets its own, in the same round
	// trip and implicit transaction.
	batch := &pgx.Batch{}
	if ef := max(limit, postgres.HNSWEfSearch); ef != postgres.HNSWEfSearch {
		batch.Queue(`SELECT set_config('hnsw.iterative_scan', 'strict_order', true), set_config('hnsw.ef_search', $1, true),
			set_config('hnsw.max_scan_tuples', '50000', true)`, strconv.Itoa(ef))
	}
	var out []scored
	batch.Queue(sql, a...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var (
				id   [16]byte
				dist float64
			)
			if err := rows.Scan(&id, &dist); err != nil {
				return err
			}
			out = append(out, scored{id: id, rel: 1 - dist})
		}
		return rows.Err()
	})
	if err := s.pool.SendBatch(ctx, batch).Close(); err != nil {
		return nil, errTable.Translate(ctx, err, "books")
	}
	return out, nil
}
