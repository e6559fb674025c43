package catalogstore

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/adapters/ollama/ollamatest"
)

// splitmix64 is the test's stand-in for hashing a book id.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func testLevel(i int) int { return vectorLevel(splitmix64(uint64(i))) }

// bookVocabulary is a few hundred title words: some of the Ollama double's
// concept words and made-up ones that it hashes onto the other dimensions.
var bookVocabulary = func() []string {
	words := strings.Fields(`wizard sorcerer magic witch spell space galaxy star planet orbit
		detective murder crime mystery killer love romance heart passion war battle soldier
		army cook recipe kitchen chef ocean sea sailor ship voyage dragon child boy girl orphan
		history ancient medieval computer code algorithm garden flower ghost haunted horror
		robot machine school student money wealth`)
	r := rand.New(rand.NewPCG(1, 2))
	syllables := strings.Fields("ka lo mi ne ru sa te vi ba do fe gu ha ji ko la mu no pe qu ri so tu ve wa xi yo ze")
	seen := map[string]bool{}
	for _, w := range words {
		seen[w] = true
	}
	for len(words) < 360 {
		var b strings.Builder
		for range 2 + r.IntN(2) {
			b.WriteString(syllables[r.IntN(len(syllables))])
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			words = append(words, w)
		}
	}
	return words
}()

var (
	firstNames = strings.Fields("Anna Ben Clara David Emma Felix Grace Henry Iris Jack Kate Leo Mia Noah Olga Paul Rosa Sam Tara Victor")
	lastNames  = strings.Fields("Smith Jones Brown Taylor Wilson Evans Thomas Roberts Walker Wright Hall Green Wood Clarke Hughes Lewis Young King Baker Hill")
)

// bookTexts returns n synthetic book texts: a title of 2-6 words and an
// author. Title words are drawn with a skew, as real titles are.
func bookTexts(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([]string, n)
	for i := range out {
		var b strings.Builder
		for j := range 2 + r.IntN(5) {
			if j > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(skewedWord(r))
		}
		fmt.Fprintf(&b, " by %s %s", firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))])
		out[i] = b.String()
	}
	return out
}

func skewedWord(r *rand.Rand) string {
	// The square of a uniform variable favours the first words.
	u := r.Float64()
	return bookVocabulary[int(u*u*float64(len(bookVocabulary)))]
}

// queryTexts returns n random texts of 1-3 words.
func queryTexts(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, 11))
	out := make([]string, n)
	for i := range out {
		words := make([]string, 1+r.IntN(3))
		for j := range words {
			words[j] = bookVocabulary[r.IntN(len(bookVocabulary))]
		}
		out[i] = strings.Join(words, " ")
	}
	return out
}

func embedTexts(texts []string) [][]float32 {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		out[i] = ollamatest.Embed(t)
	}
	return out
}

func gaussianVectors(n, dim int, seed uint64) [][]float32 {
	r := rand.New(rand.NewPCG(seed, 3))
	out := make([][]float32, n)
	for i := range out {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(r.NormFloat64())
		}
		out[i] = v
	}
	return out
}

func buildGraph(vecs [][]float32) *vectorGraph {
	g := newVectorGraph(len(vecs[0]))
	for i, v := range vecs {
		if n := g.add(v, testLevel(i)); n != uint32(i) {
			panic(fmt.Sprintf("add returned %d for the %dth vector", n, i))
		}
	}
	return g
}

// exactSearch is the brute-force answer: the k nearest eligible nodes,
// ordered like search orders.
func exactSearch(g *vectorGraph, q []float32, k int, accept func(uint32) bool) []vectorHit {
	qn := normalised(q)
	nodes, _ := g.size()
	var all []vectorHit
	for i := range nodes {
		n := uint32(i)
		if g.isDeleted(n) || (accept != nil && !accept(n)) {
			continue
		}
		all = append(all, vectorHit{n, vectorDistance(qn, g.vector(n))})
	}
	slices.SortFunc(all, compareHits)
	return all[:min(k, len(all))]
}

// recallAt measures distance-based recall@k of searches at ef: a returned
// node counts when it is no farther than the exact kth (ties make node
// identity meaningless). It also checks that every hit is eligible and
// carries its true distance.
func recallAt(t *testing.T, g *vectorGraph, queries [][]float32, k, ef int, accept func(uint32) bool) float64 {
	t.Helper()
	var found, want int
	for _, q := range queries {
		exact := exactSearch(g, q, k, accept)
		if len(exact) == 0 {
			continue
		}
		got := g.search(q, ef, accept)
		checkHits(t, g, q, got, accept)
		bound := exact[len(exact)-1].dist + 1e-9
		want += len(exact)
		for _, h := range got[:min(len(exact), len(got))] {
			if h.dist <= bound {
				found++
			}
		}
	}
	return float64(found) / float64(want)
}

// checkHits checks that hits are eligible, distinct, ordered, and carry
// vectorDistance's distance bit for bit.
func checkHits(t *testing.T, g *vectorGraph, q []float32, hits []vectorHit, accept func(uint32) bool) {
	t.Helper()
	qn := normalised(q)
	seen := map[uint32]bool{}
	for i, h := range hits {
		if seen[h.node] {
			t.Fatalf("node %d returned twice", h.node)
		}
		seen[h.node] = true
		if g.isDeleted(h.node) {
			t.Fatalf("deleted node %d returned", h.node)
		}
		if accept != nil && !accept(h.node) {
			t.Fatalf("node %d returned though the filter rejects it", h.node)
		}
		if d := vectorDistance(qn, g.vector(h.node)); d != h.dist {
			t.Fatalf("node %d: search says distance %v, vectorDistance %v", h.node, h.dist, d)
		}
		if i > 0 && !closer(hits[i-1], h) {
			t.Fatalf("hits out of order at %d: %v then %v", i, hits[i-1], h)
		}
	}
}

var sparseFixture = sync.OnceValues(func() (*vectorGraph, [][]float32) {
	vecs := embedTexts(bookTexts(20000, 1))
	return buildGraph(vecs), embedTexts(queryTexts(200, 2))
})

func TestHNSWRecallSparse(t *testing.T) {
	start := time.Now()
	g, queries := sparseFixture()
	t.Logf("built 20,000 sparse vectors in %v (%d of them aliases of an identical vector)", time.Since(start), g.aliases)
	r := recallAt(t, g, queries, 20, 40, nil)
	t.Logf("recall@20 at ef 40: %.4f", r)
	if r < 0.95 {
		t.Errorf("recall@20 at ef 40 = %.4f, want >= 0.95", r)
	}
}

// TestHNSWRecallGaussian: dense random vectors. Gaussian vectors of full
// rank 64 are the hardest case there is (every direction is as likely,
// the 20th neighbour is barely nearer than the 200th): ef 40 finds about
// 0.63 of the top 20 there, and it takes ef 320 for 0.95. Vectors of 64
// floats spanning 16 dimensions (embeddings have a low intrinsic
// dimension) meet 0.95 at ef 40.
func TestHNSWRecallGaussian(t *testing.T) {
	g := buildGraph(gaussianVectors(20000, 64, 1))
	queries := gaussianVectors(200, 64, 2)
	r40 := recallAt(t, g, queries, 20, 40, nil)
	r320 := recallAt(t, g, queries, 20, 320, nil)
	t.Logf("rank 64: recall@20 at ef 40: %.4f, at ef 320: %.4f", r40, r320)
	if r40 < 0.55 || r320 < 0.95 {
		t.Errorf("rank 64: recall@20 at ef 40 = %.4f, want >= 0.55; at ef 320 = %.4f, want >= 0.95", r40, r320)
	}

	project := func(vs [][]float32) [][]float32 {
		basis := gaussianVectors(16, 64, 99)
		out := make([][]float32, len(vs))
		for i, v := range vs {
			w := make([]float32, 64)
			for j, x := range v {
				for k := range w {
					w[k] += x * basis[j][k]
				}
			}
			out[i] = w
		}
		return out
	}
	g = buildGraph(project(gaussianVectors(20000, 16, 1)))
	r40 = recallAt(t, g, project(gaussianVectors(200, 16, 2)), 20, 40, nil)
	t.Logf("rank 16: recall@20 at ef 40: %.4f", r40)
	if r40 < 0.95 {
		t.Errorf("rank 16: recall@20 at ef 40 = %.4f, want >= 0.95", r40)
	}
}

// shuffledGraph builds a graph of vecs in a random order (the copies
// interleaved with the book vectors) and checks that random queries still
// find their nearest: recall@1 and recall@20 at ef 40 at least 0.95.
func shuffledGraph(t *testing.T, r *rand.Rand, vecs [][]float32) *vectorGraph {
	t.Helper()
	r.Shuffle(len(vecs), func(i, j int) { vecs[i], vecs[j] = vecs[j], vecs[i] })
	g := buildGraph(vecs)
	t.Logf("%d nodes are aliases", g.aliases)
	queries := embedTexts(queryTexts(200, 7))
	for _, k := range []int{1, 20} {
		rec := recallAt(t, g, queries, k, 40, nil)
		t.Logf("recall@%d at ef 40 of random queries: %.4f", k, rec)
		if rec < 0.95 {
			t.Errorf("recall@%d = %.4f, want >= 0.95", k, rec)
		}
	}
	return g
}

func TestHNSWDuplicates(t *testing.T) {
	dup := ollamatest.Embed("the wizard of the sea by Anna Smith")
	vecs := embedTexts(bookTexts(5000, 6))
	r := rand.New(rand.NewPCG(9, 9))
	for range 5000 {
		vecs = append(vecs, slices.Clone(dup))
	}
	g := shuffledGraph(t, r, vecs)

	hits := g.search(dup, 40, nil)
	checkHits(t, g, dup, hits, nil)
	if len(hits) != 40 {
		t.Fatalf("search for the duplicated vector returned %d hits, want 40", len(hits))
	}
	for _, h := range hits {
		if h.dist > 1e-6 {
			t.Fatalf("search for the duplicated vector returned node %d at distance %v", h.node, h.dist)
		}
	}
	// Ties in distance come by node number: the 40 lowest copies.
	exact := exactSearch(g, dup, 40, nil)
	if !slices.Equal(hits, exact) {
		t.Errorf("search for the duplicated vector: %v, want the lowest-numbered copies %v", hits, exact)
	}
	// Deleting and filtering copies leaves the others.
	for _, h := range hits[:10] {
		g.remove(h.node)
	}
	odd := func(n uint32) bool { return n%2 == 1 }
	hits = g.search(dup, 40, odd)
	checkHits(t, g, dup, hits, odd)
	if len(hits) != 40 || hits[39].dist > 1e-6 {
		t.Fatalf("filtered search for the duplicated vector: %d hits, last %v", len(hits), hits[len(hits)-1])
	}
}

// TestHNSWNearDuplicates: thousands of vectors that differ only in the last
// bits of their floats (so that their distances to each other round to 0
// but they are not aliases) must not trap searches either.
func TestHNSWNearDuplicates(t *testing.T) {
	base := ollamatest.Embed("the wizard of the sea by Anna Smith")
	vecs := embedTexts(bookTexts(5000, 6))
	r := rand.New(rand.NewPCG(9, 10))
	for k := range 5000 {
		v := slices.Clone(base)
		if k%2 == 0 {
			// Scaled: the same direction, normalised to other floats.
			s := float32(0.5 + r.Float64())
			for i := range v {
				v[i] *= s
			}
		} else {
			for range 3 {
				i := r.IntN(len(v))
				v[i] = math.Nextafter32(v[i], float32(math.Inf(1-2*r.IntN(2))))
			}
		}
		vecs = append(vecs, v)
	}
	g := shuffledGraph(t, r, vecs)
	hits := g.search(base, 40, nil)
	checkHits(t, g, base, hits, nil)
	if len(hits) != 40 || hits[39].dist > 1e-6 {
		t.Fatalf("search for the near-duplicated vector: %d hits, last %v", len(hits), hits[len(hits)-1])
	}
}

func TestHNSWFilter(t *testing.T) {
	g, queries := sparseFixture()
	tenth := func(n uint32) bool { return n%10 == 0 }
	r := recallAt(t, g, queries, 20, 40, tenth)
	t.Logf("recall@20 at ef 40, 10%% filter: %.4f", r)
	if r < 0.9 {
		t.Errorf("recall@20 with a 10%% filter = %.4f, want >= 0.9", r)
	}

	hundredth := func(n uint32) bool { return n%100 == 0 }
	r = recallAt(t, g, queries, 20, 40, hundredth)
	t.Logf("recall@20 at ef 40, 1%% filter: %.4f", r)
	for _, q := range queries[:20] {
		hits := g.search(q, 40, hundredth)
		checkHits(t, g, q, hits, hundredth)
		if len(hits) != 40 {
			t.Fatalf("1%% filter: %d hits, want 40", len(hits))
		}
	}
	// A filter fewer nodes pass than ef asks for returns them all.
	few := func(n uint32) bool { return n%1000 == 7 }
	hits := g.search(queries[0], 40, few)
	checkHits(t, g, queries[0], hits, few)
	if len(hits) != 20 {
		t.Errorf("a filter 20 nodes pass: %d hits", len(hits))
	}
	if hits := g.search(queries[0], 40, func(uint32) bool { return false }); len(hits) != 0 {
		t.Errorf("a filter nothing passes: %d hits", len(hits))
	}
}

func TestHNSWRemove(t *testing.T) {
	vecs := embedTexts(bookTexts(10000, 3))
	g := buildGraph(vecs)
	queries := embedTexts(queryTexts(200, 4))
	r := rand.New(rand.NewPCG(5, 5))
	for _, i := range r.Perm(len(vecs))[:len(vecs)*3/10] {
		g.remove(uint32(i))
		g.remove(uint32(i)) // idempotent
	}
	if n, d := g.size(); n != 10000 || d != 3000 {
		t.Fatalf("size() = %d, %d, want 10000, 3000", n, d)
	}
	rec := recallAt(t, g, queries, 20, 40, nil)
	t.Logf("recall@20 at ef 40 with 30%% deleted: %.4f", rec)
	if rec < 0.9 {
		t.Errorf("recall@20 with 30%% deleted = %.4f, want >= 0.9", rec)
	}
	// Adding after removing still works, and removing everything leaves
	// nothing to find.
	n := g.add(vecs[0], 0)
	if hits := g.search(vecs[0], 1, nil); len(hits) != 1 || hits[0].dist > 1e-6 {
		t.Errorf("search for a vector re-added as node %d: %v", n, hits)
	}
	for i := range n + 1 {
		g.remove(i)
	}
	if hits := g.search(vecs[0], 10, nil); len(hits) != 0 {
		t.Errorf("search with every node deleted: %v", hits)
	}
}

func TestVectorDistance(t *testing.T) {
	a := normalised([]float32{3, 4, 0, 0, 0, 0, 0, 0, 0, 1})
	b := normalised([]float32{0, 0, 5, 0, 0, 0, 0, 0, 0, 0})
	neg := normalised([]float32{-3, -4, 0, 0, 0, 0, 0, 0, 0, -1})
	if d := vectorDistance(a, a); math.Abs(d) > 1e-6 {
		t.Errorf("identical: %v", d)
	}
	if d := vectorDistance(a, b); d != 1 {
		t.Errorf("orthogonal: %v", d)
	}
	if d := vectorDistance(a, neg); math.Abs(d-2) > 1e-6 {
		t.Errorf("opposite: %v", d)
	}
	zero := make([]float32, 10)
	if n := normalised(zero); !slices.Equal(n, zero) {
		t.Errorf("normalised(zero) = %v", n)
	}
	if d := vectorDistance(a, normalised(zero)); d != 1 {
		t.Errorf("zero vector: %v", d)
	}
	v := []float32{1, 2, 3}
	normalised(v)
	if !slices.Equal(v, []float32{1, 2, 3}) {
		t.Errorf("normalised changed its argument: %v", v)
	}
	if n := normalised(v); math.Abs(float64(dot(n, n))-1) > 1e-6 {
		t.Errorf("normalised(%v) = %v", v, n)
	}

	// dot against a plain float64 sum, on every length around the unroll.
	r := rand.New(rand.NewPCG(1, 1))
	for n := range 40 {
		x, y := make([]float32, n), make([]float32, n)
		var want float64
		for i := range x {
			x[i], y[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
			want += float64(x[i]) * float64(y[i])
		}
		if got := float64(dot(x, y)); math.Abs(got-want) > 1e-4*(1+math.Abs(want)) {
			t.Errorf("dot of %d: %v, want %v", n, got, want)
		}
	}

	// The graph reports vectorDistance's distance, zero vectors included.
	g := newVectorGraph(10)
	g.add(a, 0)
	g.add(b, 1)
	g.add(zero, 0)
	g.add(neg, 0)
	q := []float32{1, 1, 1, 1, 0, 0, 0, 0, 0, 0}
	hits := g.search(q, 10, nil)
	if len(hits) != 4 {
		t.Fatalf("%d hits, want 4", len(hits))
	}
	checkHits(t, g, q, hits, nil)
	for _, h := range hits {
		if h.node == 2 && h.dist != 1 {
			t.Errorf("zero vector at distance %v", h.dist)
		}
	}
	if v := g.vector(3); !slices.Equal(v, neg) {
		t.Errorf("vector(3) = %v, want %v", v, neg)
	}
	if hits := newVectorGraph(10).search(q, 10, nil); len(hits) != 0 {
		t.Errorf("empty graph: %v", hits)
	}
}

func TestVectorLevel(t *testing.T) {
	const n = 100000
	counts := make([]int, 20)
	for i := range n {
		l := vectorLevel(splitmix64(uint64(i) + 12345))
		counts[l]++
	}
	for l, want := range []float64{1 - 1.0/16, 1.0/16 - 1.0/256} {
		got := float64(counts[l]) / n
		if math.Abs(got-want) > 0.005 {
			t.Errorf("fraction at level %d: %.4f, want %.4f", l, got, want)
		}
	}
	t.Logf("levels of %d hashes: %v", n, counts)
	if vectorLevel(0) < 10 || vectorLevel(math.MaxUint64) != 0 {
		t.Errorf("extremes: %d, %d", vectorLevel(0), vectorLevel(math.MaxUint64))
	}
}

func TestHNSWDeterministic(t *testing.T) {
	vecs := embedTexts(bookTexts(3000, 8))
	a, b := buildGraph(vecs), buildGraph(vecs)
	checkLayer0(t, a)
	if !slices.Equal(a.links0, b.links0) || !slices.Equal(a.next, b.next) || a.entry != b.entry || a.maxLevel != b.maxLevel {
		t.Fatal("two builds of the same vectors differ")
	}
	for i := range a.upper {
		for l := range a.upper[i] {
			if !slices.Equal(a.upper[i][l], b.upper[i][l]) {
				t.Fatal("two builds of the same vectors differ on upper layers")
			}
		}
	}
	for _, q := range embedTexts(queryTexts(50, 9)) {
		if !slices.Equal(a.search(q, 40, nil), b.search(q, 40, nil)) {
			t.Fatal("two builds of the same vectors answer differently")
		}
	}
}

func TestHNSWConcurrentSearch(t *testing.T) {
	g := buildGraph(gaussianVectors(2000, 32, 1))
	queries := gaussianVectors(50, 32, 2)
	want := make([][]vectorHit, len(queries))
	for i, q := range queries {
		want[i] = g.search(q, 20, nil)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for w := range 4 {
		wg.Go(func() {
			for i := range queries {
				i := (i + w*7) % len(queries)
				if got := g.search(queries[i], 20, nil); !slices.Equal(got, want[i]) {
					errs <- fmt.Sprintf("query %d: concurrent search differs", i)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

var benchFixture = sync.OnceValues(func() (*vectorGraph, [][]float32) {
	vecs := embedTexts(bookTexts(100000, 21))
	return buildGraph(vecs), embedTexts(queryTexts(1000, 22))
})

// BenchmarkVectorGraphSearch: ef 40 over 100,000 vectors like the Ollama
// double's.
func BenchmarkVectorGraphSearch(b *testing.B) {
	g, queries := benchFixture()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		g.search(queries[i%len(queries)], 40, nil)
		i++
	}
}

// BenchmarkVectorGraphSearchGaussian: the same over dense random vectors.
func BenchmarkVectorGraphSearchGaussian(b *testing.B) {
	g := buildGraph(gaussianVectors(100000, 64, 1))
	queries := gaussianVectors(1000, 64, 2)
	i := 0
	for b.Loop() {
		g.search(queries[i%len(queries)], 40, nil)
		i++
	}
}

// BenchmarkVectorGraphBuild: inserting 100,000 vectors like the Ollama
// double's, one op.
func BenchmarkVectorGraphBuild(b *testing.B) {
	vecs := embedTexts(bookTexts(100000, 21))
	for b.Loop() {
		buildGraph(vecs)
	}
}

func BenchmarkVectorDistance(b *testing.B) {
	v := gaussianVectors(2, 64, 1)
	x, y := normalised(v[0]), normalised(v[1])
	var s float64
	for b.Loop() {
		s += vectorDistance(x, y)
	}
	_ = s
}

// checkLayer0 checks every node's layer-0 list against the heuristic run
// afresh over it: sorted by distance, kept0 marking exactly those that no
// closer kept link shadows.
func checkLayer0(t *testing.T, g *vectorGraph) {
	t.Helper()
	nodes, _ := g.size()
	for i := range nodes {
		n := uint32(i)
		base := g.vector(n)
		var kept []uint32
		links := g.layer0(n)
		for j, nb := range links {
			d := vectorDistance(base, g.vector(nb))
			if j > 0 {
				prev := vectorHit{links[j-1], vectorDistance(base, g.vector(links[j-1]))}
				if !closer(prev, vectorHit{nb, d}) {
					t.Fatalf("node %d: links out of order at %d", n, j)
				}
			}
			good := true
			for _, k := range kept {
				if vectorDistance(g.vector(nb), g.vector(k)) <= d {
					good = false
					break
				}
			}
			if good {
				kept = append(kept, nb)
			}
			if got := g.kept0[n]&(1<<j) != 0; got != good {
				t.Fatalf("node %d link %d: marked kept %v, heuristic says %v", n, j, got, good)
			}
		}
	}
}
