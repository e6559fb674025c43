package catalogstore

import (
	"fmt"
	"math"
	"slices"
	"sync"
)

// vectorGraph is an in-process approximate nearest-neighbour index over
// cosine distance: a hierarchical navigable small world graph (Malkov and
// Yashunin, "Efficient and robust approximate nearest neighbor search using
// Hierarchical Navigable Small World graphs"), built like pgvector's with
// m = 16 and efConstruction = 64.
//
// Vectors are normalised to unit length when added, so that cosine distance
// is 1 - dot product (vectorDistance). Nodes are numbered densely in order of
// insertion and live in flat arrays: the vectors in one []float32 of
// node*dim floats, the layer-0 links in one []uint32 of node*(2m+1) words
// (a count, then 2m slots). The few nodes that reach the upper layers (one
// in m) keep a slice of link lists there, found through upperIdx.
//
// Neighbours are chosen with the paper's heuristic (a candidate is linked
// only if it is closer to the new node than to every neighbour already
// linked), filled up with the nearest discarded candidates when the
// heuristic keeps fewer than the layer allows (keepPrunedConnections); a
// neighbour whose list overflows re-runs the heuristic over its old links
// and the new node.
//
// Duplicates are aliases. A vector bit-identical to one already in the
// graph, or within aliasDistance of it (float32 rounding of the same
// direction), found by the insertion's own search, is not linked into the
// graph: it hangs off that node (its representative) in a chain of node
// numbers, and a search that reaches the representative considers the whole
// chain, each alias at its own distance (the representative's when the
// vectors are identical, computed otherwise).
// Without this, thousands of identical vectors (common with bag-of-words
// embeddings) link only among themselves, as every one is at distance 0 from
// the others and the heuristic discards everything beyond them, and a
// search that walks into the cluster cannot leave it.
//
// Searches order hits by distance, then node number, but prune on distance
// alone: a node no nearer than the farthest of the ef held is not explored,
// so among nodes tied at the cut-off distance the ones found first stay.
// (Exploring ties for lower node numbers costs three times the distance
// computations on bag-of-words vectors, where ties are everywhere.)
//
// Deleting only marks a node: it keeps routing searches (its links stay) but
// is never returned. Searches only read the graph; their scratch (the visited
// set and the heaps) comes from a sync.Pool, so any number may run at once
// while nothing writes. add and remove need exclusive access.
//
// Everything is deterministic: the same vectors added in the same order
// with the same levels build the same graph, which returns the same results.
type vectorGraph struct {
	dim            int
	m, m0          int // links per node on the upper layers and on layer 0
	efConstruction int

	vecs   []float32 // node*dim: unit vectors (or zeros)
	links0 []uint32  // node*(m0+1): count, then m0 slots
	// kept0[node] has bit j set when the heuristic keeps slot j of node's
	// layer-0 list (the others are fill-up). Layer-0 lists are sorted by
	// distance to their node, then node number.
	kept0 []uint32
	// upperIdx is 0 for a node without upper layers, else 1 + its index
	// in upper, where upper[i][l-1] is its link list on layer l.
	upperIdx []uint32
	upper    [][][]uint32
	// next chains a representative's aliases in ascending node order:
	// next[rep] is its first alias, next of that the second, and so on;
	// noNode ends the chain. aliasTail holds each chain's last node.
	next      []uint32
	aliasTail map[uint32]uint32
	aliases   int
	// near is a bitset: an alias whose vector is not its representative's,
	// and a representative with such aliases.
	near []uint64

	deleted  []uint64 // bitset
	nDeleted int

	entry    uint32 // the entry point: a node on layer maxLevel
	maxLevel int

	pool sync.Pool // *vectorScratch
}

// vectorHit is a node and its distance from a query.
type vectorHit struct {
	node uint32
	dist float64
}

const (
	noNode = ^uint32(0)
	// maxVectorLevel caps levels; vectorLevel never exceeds 13 anyway.
	maxVectorLevel = 32
	// aliasDistance is the distance within which a new vector becomes an
	// alias of a node: float32 rounding puts distinct vectors this close
	// (a dot product within a few units in the last place of 1).
	aliasDistance = 1e-6
	vectorM       = 16
	vectorEfBuild = 64
)

// newVectorGraph returns an empty graph for vectors of dim floats.
// Parameters like pgvector's defaults: m = 16 (2*m links on layer 0),
// efConstruction = 64.
func newVectorGraph(dim int) *vectorGraph {
	if dim <= 0 {
		panic(fmt.Sprintf("vectorGraph: dimension %d", dim))
	}
	g := &vectorGraph{dim: dim, m: vectorM, m0: 2 * vectorM, efConstruction: vectorEfBuild, aliasTail: map[uint32]uint32{}}
	g.pool.New = func() any { return new(vectorScratch) }
	return g
}

// vectorLevel maps a uniformly distributed 64-bit hash to a layer with
// HNSW's exponential distribution for m = 16 (mL = 1/ln(m)): level l or
// above with probability 16^-l.
func vectorLevel(h uint64) int {
	u := (float64(h>>11) + 1) / (1 << 53) // (0, 1]
	l := int(-math.Log(u) / math.Log(vectorM))
	return min(l, maxVectorLevel)
}

// vectorDistance is the cosine distance of two unit vectors, 1 - dot(a, b),
// computed the same way everywhere: the float32 products accumulated in a
// fixed order (dot), then 1 - float64(sum). Exact scans and graph searches
// therefore report bit-identical distances for the same pair.
func vectorDistance(a, b []float32) float64 { return 1 - float64(dot(a, b)) }

// dot is the float32 dot product of a and b (b at least as long as a):
// eight accumulators over blocks of eight, summed pairwise, then the tail.
// The explicit float32 conversions keep the compiler from fusing a
// multiply and an add (it may on some architectures), so that the result
// is the same on every machine.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		x := a[i : i+8 : i+8]
		y := b[i : i+8 : i+8]
		s0 += float32(x[0] * y[0])
		s1 += float32(x[1] * y[1])
		s2 += float32(x[2] * y[2])
		s3 += float32(x[3] * y[3])
		s4 += float32(x[4] * y[4])
		s5 += float32(x[5] * y[5])
		s6 += float32(x[6] * y[6])
		s7 += float32(x[7] * y[7])
	}
	for ; i < len(a); i++ {
		s0 += float32(a[i] * b[i])
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

// normalised returns a unit-length copy of v (v itself unchanged). A zero
// vector, or one with a non-finite component, is returned as zeros.
func normalised(v []float32) []float32 {
	out := make([]float32, len(v))
	normaliseInto(out, v)
	return out
}

func normaliseInto(dst, v []float32) {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	if ss == 0 || math.IsInf(ss, 0) || math.IsNaN(ss) {
		clear(dst)
		return
	}
	inv := 1 / math.Sqrt(ss)
	for i, x := range v {
		dst[i] = float32(float64(x) * inv)
	}
}

// vector returns node's stored (normalised) vector. The caller must not
// modify it.
func (g *vectorGraph) vector(node uint32) []float32 {
	i := int(node) * g.dim
	return g.vecs[i : i+g.dim : i+g.dim]
}

// size returns the number of nodes and how many of them are deleted.
func (g *vectorGraph) size() (nodes, deleted int) { return len(g.next), g.nDeleted }

// remove marks node deleted: it still routes searches but is never
// returned. Idempotent; a node number never added is ignored.
func (g *vectorGraph) remove(node uint32) {
	if int(node) >= len(g.next) || g.isDeleted(node) {
		return
	}
	g.deleted[node/64] |= 1 << (node % 64)
	g.nDeleted++
}

func (g *vectorGraph) isNear(node uint32) bool { return g.near[node/64]&(1<<(node%64)) != 0 }

func (g *vectorGraph) isDeleted(node uint32) bool { return g.deleted[node/64]&(1<<(node%64)) != 0 }

// layer0 returns node's link list on layer 0.
func (g *vectorGraph) layer0(node uint32) []uint32 {
	i := int(node) * (g.m0 + 1)
	return g.links0[i+1 : i+1+int(g.links0[i])]
}

// links returns node's link list on layer l (a node on that layer).
func (g *vectorGraph) links(node uint32, l int) []uint32 {
	if l == 0 {
		return g.layer0(node)
	}
	return g.upper[g.upperIdx[node]-1][l-1]
}

// setLinks replaces node's link list on layer l.
func (g *vectorGraph) setLinks(node uint32, l int, hits []vectorHit) {
	if l == 0 {
		i := int(node) * (g.m0 + 1)
		g.links0[i] = uint32(len(hits))
		for j, h := range hits {
			g.links0[i+1+j] = h.node
		}
		return
	}
	s := g.upper[g.upperIdx[node]-1][l-1][:0]
	for _, h := range hits {
		s = append(s, h.node)
	}
	g.upper[g.upperIdx[node]-1][l-1] = s
}

// appendLink adds to to node's list on layer l, which has room.
func (g *vectorGraph) appendLink(node uint32, l int, to uint32) {
	if l == 0 {
		i := int(node) * (g.m0 + 1)
		c := g.links0[i]
		g.links0[i+1+int(c)] = to
		g.links0[i] = c + 1
		return
	}
	i := g.upperIdx[node] - 1
	g.upper[i][l-1] = append(g.upper[i][l-1], to)
}

func (g *vectorGraph) maxLinks(l int) int {
	if l == 0 {
		return g.m0
	}
	return g.m
}

// add inserts vec (copied and normalised; a zero vector is stored as is and
// is at distance 1 from everything) with top layer level (see vectorLevel)
// and returns its node number: 0, 1, 2, ... in order of insertion.
func (g *vectorGraph) add(vec []float32, level int) uint32 {
	if len(vec) != g.dim {
		panic(fmt.Sprintf("vectorGraph: vector of dimension %d, want %d", len(vec), g.dim))
	}
	level = max(0, min(level, maxVectorLevel))
	n := uint32(len(g.next))
	if n == noNode {
		panic("vectorGraph: full")
	}
	g.vecs = slices.Grow(g.vecs, g.dim)[:len(g.vecs)+g.dim]
	q := g.vector(n)
	normaliseInto(q, vec)
	g.links0 = append(g.links0, make([]uint32, g.m0+1)...)
	g.kept0 = append(g.kept0, 0)
	g.next = append(g.next, noNode)
	g.upperIdx = append(g.upperIdx, 0)
	if int(n)/64 >= len(g.deleted) {
		g.deleted = append(g.deleted, 0)
		g.near = append(g.near, 0)
	}
	if n == 0 {
		g.addUpper(n, level)
		g.entry, g.maxLevel = n, level
		return n
	}

	s := g.scratch(int(n) + 1)
	defer g.pool.Put(s)
	ep := vectorHit{g.entry, vectorDistance(q, g.vector(g.entry))}
	for l := g.maxLevel; l > level; l-- {
		ep = g.greedy(q, ep, l)
	}
	top := min(level, g.maxLevel)
	// Search every layer first, linking nothing, so that an exact
	// duplicate found on layer 0 can become an alias instead.
	if cap(s.layers) < top+1 {
		s.layers = make([][]vectorHit, top+1)
	}
	layers := s.layers[:top+1]
	entries := []vectorHit{ep}
	for l := top; l >= 0; l-- {
		layers[l] = g.searchLayer(q, entries, g.efConstruction, l, s, layers[l][:0])
		entries = layers[l]
	}

	// An alias: a vector identical to a node's, or one so close that
	// their distance rounds to (about) 0, within aliasDistance.
	self := vectorDistance(q, q)
	for _, h := range layers[0] {
		if h.dist > max(self, aliasDistance) {
			break
		}
		if slices.Equal(g.vector(h.node), q) {
			g.addAlias(h.node, n, false)
			return n
		}
		if h.dist <= aliasDistance && self < 1 {
			g.addAlias(h.node, n, true)
			return n
		}
	}

	g.addUpper(n, level)
	for l := top; l >= 1; l-- {
		// connect reuses the scratch selectNeighbours returns in.
		sel := append(s.sel[:0], g.selectNeighbours(layers[l], g.m, s)...)
		s.sel = sel
		g.setLinks(n, l, sel)
		for _, h := range sel {
			g.connect(h.node, n, h.dist, l, s)
		}
	}
	sel, mask := g.select0(layers[0], s)
	g.setLinks(n, 0, sel)
	g.kept0[n] = mask
	for _, h := range sel {
		g.connect0(h.node, n, h.dist, s)
	}
	if level > g.maxLevel {
		g.entry, g.maxLevel = n, level
	}
	return n
}

// addUpper gives node empty link lists on layers 1 to level.
func (g *vectorGraph) addUpper(node uint32, level int) {
	if level == 0 {
		return
	}
	backing := make([]uint32, level*g.m)
	lists := make([][]uint32, level)
	for l := range lists {
		lists[l] = backing[l*g.m : l*g.m : (l+1)*g.m]
	}
	g.upper = append(g.upper, lists)
	g.upperIdx[node] = uint32(len(g.upper))
}

// addAlias chains node onto rep: its vector is rep's, or near it.
func (g *vectorGraph) addAlias(rep, node uint32, near bool) {
	if tail, ok := g.aliasTail[rep]; ok {
		g.next[tail] = node
	} else {
		g.next[rep] = node
	}
	g.aliasTail[rep] = node
	g.aliases++
	if near {
		// On the alias: its distance must be computed; on the
		// representative: its chain has such aliases.
		g.near[node/64] |= 1 << (node % 64)
		g.near[rep/64] |= 1 << (rep % 64)
	}
}

// connect links from to the new node to at layer l (d apart), re-running
// the heuristic over from's links when its list is full.
func (g *vectorGraph) connect(from, to uint32, d float64, l int, s *vectorScratch) {
	links := g.links(from, l)
	limit := g.maxLinks(l)
	if len(links) < limit {
		g.appendLink(from, l, to)
		return
	}
	base := g.vector(from)
	c := s.prune[:0]
	for _, nb := range links {
		c = append(c, vectorHit{nb, vectorDistance(base, g.vector(nb))})
	}
	c = append(c, vectorHit{to, d})
	slices.SortFunc(c, compareHits)
	s.prune = c
	g.setLinks(from, l, g.selectNeighbours(c, limit, s))
}

// select0 chooses the new node's layer-0 links from cands (sorted nearest
// first) like selectNeighbours, and returns them sorted nearest first with
// the mask of those the heuristic kept (kept0).
func (g *vectorGraph) select0(cands []vectorHit, s *vectorScratch) ([]vectorHit, uint32) {
	c := s.marked[:0]
	kept := 0
	for _, h := range cands {
		if kept == g.m0 {
			break
		}
		v := g.vector(h.node)
		good := true
		for _, k := range c {
			if k.kept && vectorDistance(v, g.vector(k.node)) <= h.dist {
				good = false
				break
			}
		}
		c = append(c, markedHit{h, good})
		if good {
			kept++
		}
	}
	s.marked = c
	// Keep every kept one and the nearest discarded ones: drop the
	// farthest discarded ones while there are too many.
	for j := len(c) - 1; len(c) > g.m0 && j >= 0; j-- {
		if !c[j].kept {
			c = slices.Delete(c, j, j+1)
		}
	}
	sel := s.sel[:0]
	var mask uint32
	for j, h := range c {
		sel = append(sel, h.vectorHit)
		if h.kept {
			mask |= 1 << j
		}
	}
	s.sel = sel
	return sel, mask
}

// connect0 links from to the new node to on layer 0 (d apart). It keeps
// from's list as the heuristic over the list would: inserting to may
// discard later links that to (or one it lets back in) shadows; when the
// list overflows, the farthest discarded link goes, or the farthest of all
// if the heuristic keeps every one. This is re-running the heuristic
// over the old links and the new one, computed incrementally.
func (g *vectorGraph) connect0(from, to uint32, d float64, s *vectorScratch) {
	base := g.vector(from)
	mask := g.kept0[from]
	c := s.marked[:0]
	h := vectorHit{to, d}
	p := -1
	for j, nb := range g.layer0(from) {
		x := vectorHit{nb, vectorDistance(base, g.vector(nb))}
		if p < 0 && closer(h, x) {
			p = len(c)
			c = append(c, markedHit{h, false})
		}
		c = append(c, markedHit{x, mask&(1<<j) != 0})
	}
	if p < 0 {
		p = len(c)
		c = append(c, markedHit{h, false})
	}
	s.marked = c

	v := g.vector(to)
	good := true
	for _, k := range c[:p] {
		if k.kept && vectorDistance(v, g.vector(k.node)) <= d {
			good = false
			break
		}
	}
	if good {
		c[p].kept = true
		// Links after the new one: a kept one stays kept unless a
		// newly kept one shadows it; a discarded one stays discarded
		// unless one kept before it no longer is, then it is checked
		// against every one kept before it.
		fresh := append(s.fresh[:0], to)
		demoted := false
		for j := p + 1; j < len(c); j++ {
			x := &c[j]
			vx := g.vector(x.node)
			if x.kept {
				for _, f := range fresh {
					if vectorDistance(vx, g.vector(f)) <= x.dist {
						x.kept, demoted = false, true
						break
					}
				}
				continue
			}
			if !demoted {
				continue
			}
			ok := true
			for _, k := range c[:j] {
				if k.kept && vectorDistance(vx, g.vector(k.node)) <= x.dist {
					ok = false
					break
				}
			}
			if ok {
				x.kept = true
				fresh = append(fresh, x.node)
			}
		}
		s.fresh = fresh
	}

	if len(c) > g.m0 {
		drop := len(c) - 1
		for j := len(c) - 1; j >= 0; j-- {
			if !c[j].kept {
				drop = j
				break
			}
		}
		// The farthest discarded link goes, unless the first m0 are all
		// kept: then the heuristic stops before the last.
		allKept := true
		for _, x := range c[:g.m0] {
			allKept = allKept && x.kept
		}
		if allKept {
			drop = len(c) - 1
		}
		c = slices.Delete(c, drop, drop+1)
	}
	i := int(from) * (g.m0 + 1)
	g.links0[i] = uint32(len(c))
	mask = 0
	for j, x := range c {
		g.links0[i+1+j] = x.node
		if x.kept {
			mask |= 1 << j
		}
	}
	g.kept0[from] = mask
}

// markedHit is a candidate link and whether the heuristic keeps it.
type markedHit struct {
	vectorHit
	kept bool
}

// selectNeighbours picks up to limit of cands (sorted nearest first by
// their distance to a base node) with the heuristic: a candidate is kept
// only if it is closer to the base than to every one kept before it. When
// fewer than limit are kept the nearest discarded ones fill up the rest.
// The result is valid until the next call with the same scratch.
func (g *vectorGraph) selectNeighbours(cands []vectorHit, limit int, s *vectorScratch) []vectorHit {
	kept := s.kept[:0]
	if len(cands) <= limit {
		kept = append(kept, cands...)
		s.kept = kept
		return kept
	}
	discarded := s.discarded[:0]
	for _, c := range cands {
		if len(kept) == limit {
			break
		}
		v := g.vector(c.node)
		good := true
		for _, k := range kept {
			if vectorDistance(v, g.vector(k.node)) <= c.dist {
				good = false
				break
			}
		}
		if good {
			kept = append(kept, c)
		} else {
			discarded = append(discarded, c)
		}
	}
	for _, c := range discarded {
		if len(kept) == limit {
			break
		}
		kept = append(kept, c)
	}
	s.kept, s.discarded = kept, discarded
	return kept
}

// greedy walks layer l from ep to a local minimum of the distance to q.
func (g *vectorGraph) greedy(q []float32, ep vectorHit, l int) vectorHit {
	for changed := true; changed; {
		changed = false
		for _, nb := range g.links(ep.node, l) {
			h := vectorHit{nb, vectorDistance(q, g.vector(nb))}
			if closer(h, ep) {
				ep, changed = h, true
			}
		}
	}
	return ep
}

// searchLayer is the construction search of layer l: the ef nodes nearest
// to q reachable from entries, appended to out nearest first. Deleted nodes
// count like any other; aliases are not on any layer.
func (g *vectorGraph) searchLayer(q []float32, entries []vectorHit, ef, l int, s *vectorScratch, out []vectorHit) []vectorHit {
	s.next()
	cand, res := s.cand[:0], s.res[:0]
	for _, e := range entries {
		if s.visit(e.node) {
			cand = pushMin(cand, e)
			res = pushMax(res, e)
		}
	}
	for len(res) > ef {
		res = popMax(res)
	}
	for len(cand) > 0 {
		c := cand[0]
		cand = popMin(cand)
		if len(res) >= ef && c.dist > res[0].dist {
			break
		}
		fresh := s.fresh[:0]
		for _, nb := range g.links(c.node, l) {
			if s.visit(nb) {
				fresh = append(fresh, nb)
			}
		}
		s.fresh = fresh
		s.touched += g.touch(fresh)
		for _, nb := range fresh {
			h := vectorHit{nb, vectorDistance(q, g.vector(nb))}
			if len(res) < ef {
				cand = pushMin(cand, h)
				res = pushMax(res, h)
			} else if h.dist < res[0].dist {
				cand = pushMin(cand, h)
				res = replaceMax(res, h)
			}
		}
	}
	s.cand = cand
	out = append(out, res...)
	slices.SortFunc(out, compareHits)
	s.res = res
	return out
}

// search returns up to ef nodes nearest to q (need not be normalised) that
// are not deleted and that accept accepts (nil accepts all), nearest first,
// ties in distance by node number. Nodes accept rejects are traversed but
// never returned, and the search goes on until it holds ef accepted nodes
// or runs out of reachable candidates: a very selective filter may visit
// the whole graph. search only reads the graph; it may run concurrently
// with other searches, not with add or remove.
func (g *vectorGraph) search(q []float32, ef int, accept func(node uint32) bool) []vectorHit {
	if len(q) != g.dim {
		panic(fmt.Sprintf("vectorGraph: query of dimension %d, want %d", len(q), g.dim))
	}
	if ef <= 0 || len(g.next) == 0 {
		return nil
	}
	s := g.scratch(len(g.next))
	defer g.pool.Put(s)
	if cap(s.query) < g.dim {
		s.query = make([]float32, g.dim)
	}
	qn := s.query[:g.dim]
	normaliseInto(qn, q)

	ep := vectorHit{g.entry, vectorDistance(qn, g.vector(g.entry))}
	for l := g.maxLevel; l > 0; l-- {
		ep = g.greedy(qn, ep, l)
	}

	s.next()
	cand, res := s.cand[:0], s.res[:0]
	eligible := func(node uint32) bool {
		return !g.isDeleted(node) && (accept == nil || accept(node))
	}
	// consider offers h's node and its aliases to the results. An alias
	// has its representative's distance if its vector is the same, its
	// own (computed) if it is only near. Without near aliases the chain
	// is ordered like the results (one distance, ascending node numbers)
	// and its first alias not taken ends it.
	consider := func(h vectorHit) {
		rep, d := h.node, h.dist
		mixed := g.isNear(rep)
		for n := h.node; n != noNode; n = g.next[n] {
			h.node, h.dist = n, d
			if mixed && n != rep && g.isNear(n) {
				h.dist = vectorDistance(qn, g.vector(n))
			}
			if len(res) >= ef && !closer(h, res[0]) {
				if !mixed {
					return
				}
				continue
			}
			if !eligible(n) {
				continue
			}
			if len(res) < ef {
				res = pushMax(res, h)
			} else {
				res = replaceMax(res, h)
			}
		}
	}
	s.visit(ep.node)
	cand = pushMin(cand, ep)
	consider(ep)
	for len(cand) > 0 {
		c := cand[0]
		cand = popMin(cand)
		if len(res) >= ef && c.dist > res[0].dist {
			break
		}
		fresh := s.fresh[:0]
		for _, nb := range g.layer0(c.node) {
			if s.visit(nb) {
				fresh = append(fresh, nb)
			}
		}
		s.fresh = fresh
		s.touched += g.touch(fresh)
		for _, nb := range fresh {
			h := vectorHit{nb, vectorDistance(qn, g.vector(nb))}
			if len(res) < ef || h.dist < res[0].dist {
				cand = pushMin(cand, h)
				consider(h)
			}
		}
	}
	s.cand = cand
	out := make([]vectorHit, len(res))
	copy(out, res)
	s.res = res
	slices.SortFunc(out, compareHits)
	return out
}

// touch reads one float of every cache line of the vectors of nodes, all
// independent loads the processor overlaps, so that the distance
// computations that follow find them in cache instead of waiting for
// memory one vector at a time (Go has no prefetch instruction). The sum
// is kept in the scratch only so that the loads are not optimised away.
func (g *vectorGraph) touch(nodes []uint32) float32 {
	var sum float32
	for _, n := range nodes {
		v := g.vector(n)
		for i := 0; i < len(v); i += 16 {
			sum += v[i]
		}
	}
	return sum
}

// closer orders hits by distance, then node number.
func closer(a, b vectorHit) bool {
	return a.dist < b.dist || (a.dist == b.dist && a.node < b.node)
}

func compareHits(a, b vectorHit) int {
	switch {
	case closer(a, b):
		return -1
	case closer(b, a):
		return 1
	}
	return 0
}

// vectorScratch is one search's (or insertion's) working memory.
type vectorScratch struct {
	marks []uint32 // visited when marks[node] == gen
	gen   uint32

	cand, res       []vectorHit // a min-heap and a max-heap
	sel             []vectorHit
	marked          []markedHit
	fresh           []uint32
	layers          [][]vectorHit
	prune           []vectorHit
	kept, discarded []vectorHit
	query           []float32
	touched         float32
}

// scratch returns working memory for a graph of n nodes.
func (g *vectorGraph) scratch(n int) *vectorScratch {
	s := g.pool.Get().(*vectorScratch)
	if len(s.marks) < n {
		s.marks = make([]uint32, n+n/4+64)
		s.gen = 0
	}
	return s
}

// next starts a new visited set.
func (s *vectorScratch) next() {
	s.gen++
	if s.gen == 0 {
		clear(s.marks)
		s.gen = 1
	}
}

// visit marks node visited and reports whether it was not already.
func (s *vectorScratch) visit(node uint32) bool {
	if s.marks[node] == s.gen {
		return false
	}
	s.marks[node] = s.gen
	return true
}

// Binary heaps of hits: a min-heap (nearest at 0) of the candidates, a
// max-heap (farthest at 0) of the results. far picks the kind.
func pushMin(h []vectorHit, x vectorHit) []vectorHit { return pushHit(h, x, false) }
func popMin(h []vectorHit) []vectorHit               { return popHit(h, false) }
func pushMax(h []vectorHit, x vectorHit) []vectorHit { return pushHit(h, x, true) }
func popMax(h []vectorHit) []vectorHit               { return popHit(h, true) }

func replaceMax(h []vectorHit, x vectorHit) []vectorHit {
	h[0] = x
	siftDown(h, true)
	return h
}

// above reports whether a belongs above b in the heap: nearer in a
// min-heap, farther in a max-heap.
func above(a, b vectorHit, far bool) bool {
	if far {
		return closer(b, a)
	}
	return closer(a, b)
}

func pushHit(h []vectorHit, x vectorHit, far bool) []vectorHit {
	h = append(h, x)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !above(h[i], h[p], far) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	return h
}

func popHit(h []vectorHit, far bool) []vectorHit {
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	siftDown(h, far)
	return h
}

func siftDown(h []vectorHit, far bool) {
	n := len(h)
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && above(h[r], h[l], far) {
			c = r
		}
		if !above(h[c], h[i], far) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}
