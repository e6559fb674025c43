package catalogstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"slices"
	"strconv"
	"time"
)

// The SearchIndex also holds the books' embeddings, one HNSW graph
// (vectorGraph, hnsw.go) per embedding space ("model/dimension"), read with
// the rest of each book and kept current by the same notifications
// (PutEmbeddings notifies every book it writes). Semantic pages and the
// vector side of hybrid pages are then answered in memory: pgvector's walk
// of its HNSW index cost about 2.4 ms of Postgres CPU a search at 100,000
// books, the graph here about a tenth of a millisecond (README, "Search
// benchmark"). Postgres remains the truth, and the path when the index is
// off, not loaded, holds no vector of the query's space, or is building its
// graphs: after a load the words serve at once and the graphs are built in
// the background (buildGraphs), the books changed meanwhile taking their
// place when the graphs are installed.
//
// Pages: the first deepSemantic hits of a ranking are read from the graph,
// each page asking it for every hit up to the page's end (depth + page +
// tieSlack) and keeping those after the token's (relevance, id), asking
// again more broadly while a tie runs over the page's edge; beyond, or when
// the graph yields fewer than a page after the token while the space holds
// more, or its walk reached fewer nodes than the space holds, an exact scan
// of the space's vectors continues after the same key. Filtered searches walk the graph with the filter when a sample
// says at least vectorFilterGraph of the books pass, and scan the passing
// books exactly otherwise. Relevance is 1 - cosine distance computed by
// vectorDistance, the same in the graph and the scan, so a token continues
// across the two.

// indexSemantic is the page-token mode of semantic pages ranked by the
// index's graphs: only an index continues it.
const indexSemantic = indexAny + 1

const (
	// vectorEf is the graph's search breadth for a page: pgvector's
	// ef_search of the same statements (postgres.HNSWEfSearch).
	vectorEf = 40
	// vectorFilterGraph is the share of passing books from which a filtered
	// search walks the graph rather than scanning the passing books.
	vectorFilterGraph = 0.2
	// vectorMaxEf is the broadest graph search a page asks for before
	// scanning.
	vectorMaxEf = 640
	// vectorSample is how many books the filter is tried on to estimate
	// that share.
	vectorSample = 256
	// noOrd marks a graph node whose book is gone (or has another vector).
	noOrd = ^uint32(0)
)

// vectorSpace is one embedding space's graph and, per node, the ordinal of
// its book in the index (noOrd once removed).
type vectorSpace struct {
	name  string
	graph *vectorGraph
	ords  []uint32
	live  int
}

// spaceName names an embedding space as the index keys it.
func spaceName(model string, dim int) string { return model + "/" + strconv.Itoa(dim) }

// vectorLevelOf is the graph layer of a book's node, from its id: random
// bits of a UUIDv7, mixed, so that replicas inserting the same books in the
// same order build the same graph.
func vectorLevelOf(id [16]byte) int {
	h := binary.BigEndian.Uint64(id[8:])
	h ^= binary.BigEndian.Uint64(id[:8])
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return vectorLevel(h)
}

// setVector gives the book at ord the vector vec of space name (nil vec:
// none), keeping its node when the vector is the one it has (x.mu held, or
// x private). old and oldNode are what the book had before.
func (x *SearchIndex) setVector(ord uint32, old *vectorSpace, oldNode uint32, name string, vec []float32) {
	d := &x.docs[ord]
	d.space, d.node = nil, 0
	if !x.graphsReady {
		// Loading, or the graphs are being built: the build takes it.
		if x.vecPending != nil {
			x.vecPending[d.id] = pendingVector{space: name, vec: vec}
		}
		return
	}
	if old != nil && vec != nil && old.name == name && sameVector(old.graph.vector(oldNode), normalised(vec)) {
		old.ords[oldNode] = ord
		d.space, d.node = old, oldNode
		return
	}
	if old != nil {
		x.dropVector(old, oldNode)
	}
	if vec == nil {
		return
	}
	if x.spaces == nil {
		x.spaces = map[string]*vectorSpace{}
	}
	sp := x.spaces[name]
	if sp == nil {
		sp = &vectorSpace{name: name, graph: newVectorGraph(len(vec))}
		x.spaces[name] = sp
	}
	node := sp.graph.add(vec, vectorLevelOf(d.id))
	sp.ords = append(sp.ords, ord)
	sp.live++
	d.space, d.node = sp, node
}

// pendingVector is a book's vector waiting for the graphs to be built
// (vec nil: none, or the book is gone).
type pendingVector struct {
	space string
	vec   []float32
}

// buildGraphs builds the graphs of a load's vectors, in id order, without
// holding the index, then installs them: the books changed or removed
// since the load take their current vector. Searches meanwhile rank the
// vectors with pgvector (hasSpace is false); a later load drops the build.
func (x *SearchIndex) buildGraphs(ctx context.Context, gen uint64, vecs map[[16]byte]pendingVector) {
	defer x.building.Add(-1)
	start := time.Now()
	ids := make([][16]byte, 0, len(vecs))
	for id, p := range vecs {
		if p.vec != nil {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
	spaces := map[string]*vectorSpace{}
	nodeIDs := map[*vectorSpace][][16]byte{}
	for i, id := range ids {
		if i%1024 == 0 && (ctx.Err() != nil || x.vecGen.Load() != gen) {
			return
		}
		p := vecs[id]
		sp := spaces[p.space]
		if sp == nil {
			sp = &vectorSpace{name: p.space, graph: newVectorGraph(len(p.vec))}
			spaces[p.space] = sp
		}
		sp.graph.add(p.vec, vectorLevelOf(id))
		nodeIDs[sp] = append(nodeIDs[sp], id)
	}
	x.mu.Lock()
	if x.vecGen.Load() != gen {
		x.mu.Unlock()
		return
	}
	for sp, byNode := range nodeIDs {
		sp.ords = make([]uint32, len(byNode))
		for node, id := range byNode {
			n := uint32(node)
			ord, live := x.ords[id]
			p, changed := x.vecPending[id]
			if changed && live && p.space == sp.name && p.vec != nil && sameVector(normalised(p.vec), sp.graph.vector(n)) {
				delete(x.vecPending, id) // the same vector again (a stock change, say)
				changed = false
			}
			if !live || changed {
				sp.graph.remove(n)
				sp.ords[n] = noOrd
				continue
			}
			sp.ords[n] = ord
			sp.live++
			x.docs[ord].space, x.docs[ord].node = sp, n
		}
	}
	x.spaces, x.graphsReady = spaces, true
	later := make([][16]byte, 0, len(x.vecPending))
	for id := range x.vecPending {
		later = append(later, id)
	}
	slices.SortFunc(later, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
	for _, id := range later {
		if ord, ok := x.ords[id]; ok && x.vecPending[id].vec != nil {
			x.setVector(ord, nil, 0, x.vecPending[id].space, x.vecPending[id].vec)
		}
	}
	x.vecPending = nil
	x.mu.Unlock()
	if x.applied != nil {
		x.applied()
	}
	x.log.InfoContext(ctx, "search index: graphs built", slog.Int("vectors", len(ids)), slog.Int("changed_meanwhile", len(later)),
		slog.Duration("took", time.Since(start)))
}

// dropVector removes a node from its graph (x.mu held).
func (x *SearchIndex) dropVector(sp *vectorSpace, node uint32) {
	if sp.ords[node] == noOrd {
		return
	}
	sp.graph.remove(node)
	sp.ords[node] = noOrd
	sp.live--
}

// vectorsWorn reports whether a graph holds so many removed nodes that it
// should be built again (x.mu held).
func (x *SearchIndex) vectorsWorn() bool {
	for _, sp := range x.spaces {
		nodes, deleted := sp.graph.size()
		if deleted > 1000 && deleted*3 > nodes {
			return true
		}
	}
	return false
}

func sameVector(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// hasSpace reports whether the index serves the vectors of a space.
func (x *SearchIndex) hasSpace(name string) bool {
	if !x.Ready() {
		return false
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	sp := x.spaces[name]
	return sp != nil && sp.live > 0
}

// nearest returns up to limit books of space name nearest to qv after key
// (nil: from the first), passing f, best first; depth is how many hits
// came before key. ok is false when the index holds no vector of the
// space.
func (x *SearchIndex) nearest(name string, qv []float32, f *indexFilter, key *scored, depth, limit int) (out []scored, ok bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	sp := x.spaces[name]
	if sp == nil || sp.live == 0 || len(qv) == 0 || sp.graph == nil {
		return nil, false
	}
	var accept func(node uint32) bool
	if f.any {
		accept = func(node uint32) bool {
			ord := sp.ords[node]
			return ord != noOrd && f.passes(&x.docs[ord])
		}
	}
	if depth+limit <= deepSemantic && (accept == nil || x.passingShare(sp, accept) >= vectorFilterGraph) {
		// The graph orders ties by node, the pages by id: while its last
		// hit ties with the page's last, the tie may go on beyond what it
		// returned, and so may a page that is not full; it is asked again,
		// broader, and past vectorMaxEf the scan decides.
		for ef := max(vectorEf, depth+limit); ; ef *= 4 {
			hits := sp.graph.search(qv, ef, accept)
			out = out[:0]
			for _, h := range hits {
				ord := sp.ords[h.node]
				if ord == noOrd {
					continue
				}
				s := scored{id: x.ids[ord], rel: 1 - h.dist}
				if key == nil || key.before(s) {
					out = append(out, s)
				}
			}
			sortScored(out)
			// A walk that ends before ef hits reached every node it
			// could; without a filter, that is every node of the space
			// unless some are unreachable (a vector far from all
			// others loses its links to nearer ones): then the scan.
			exhausted := len(hits) < ef
			if exhausted && accept == nil && len(hits) < sp.live {
				break
			}
			if exhausted {
				return out[:min(limit, len(out))], true
			}
			if len(out) >= limit && 1-hits[len(hits)-1].dist < out[limit-1].rel {
				return out[:limit], true
			}
			if ef >= vectorMaxEf {
				break
			}
		}
	}
	x.vectorScans.Add(1)
	// Normalised as the graph does it: the same distances, bit for bit.
	q := normalised(qv)
	t := top{k: limit}
	for node, ord := range sp.ords {
		if ord == noOrd || accept != nil && !f.passes(&x.docs[ord]) {
			continue
		}
		s := scored{id: x.ids[ord], rel: 1 - vectorDistance(q, sp.graph.vector(uint32(node)))}
		if key == nil || key.before(s) {
			t.offer(s)
		}
	}
	return t.items, true
}

// passingShare estimates the share of a space's books accept passes from
// an even sample of its nodes.
func (x *SearchIndex) passingShare(sp *vectorSpace, accept func(uint32) bool) float64 {
	n := len(sp.ords)
	step := max(1, n/vectorSample)
	tried, passed := 0, 0
	for node := 0; node < n; node += step {
		if sp.ords[node] == noOrd {
			continue
		}
		tried++
		if accept(uint32(node)) {
			passed++
		}
	}
	if tried == 0 {
		return 0
	}
	return float64(passed) / float64(tried)
}

// sortScored orders ranked books best first.
func sortScored(s []scored) {
	slices.SortFunc(s, func(a, b scored) int {
		if a.before(b) {
			return -1
		}
		return 1
	})
}
