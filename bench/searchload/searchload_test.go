// Package searchload is the search benchmark's toolbox, a test binary (it
// serves the Ollama double, a test helper, which code that ships never
// imports): bench/search.sh builds it with `go test -c` and runs it against a
// fresh server on a seeded catalogue.
//
//	searchload double --addr 127.0.0.1:PORT      serve the Ollama double (internal/adapters/ollama/ollamatest)
//	searchload embed --db URL --model NAME        store the double's embedding of every live book, in bulk
//	searchload load --url URL --db URL --duration 20s --conns 8
//
// load runs, one after the other over the same conns keep-alive HTTP/1.1
// connections (Connect JSON, as a browser or curl sends, or with --codec
// proto Connect binary, as the SDKs send): the gRPC health
// check (the ceiling), then SearchBooks in lexical, semantic and hybrid
// mode, page size 20. Every search text is sent once in the whole run, so
// neither the server's page cache nor its query-embedding cache ever
// answers. The texts come from the catalogue's own words (read from the
// database): broad ones, words matching at least a tenth of the books alone
// or in an "or" pair, and narrow ones, pairs of title and author words,
// some misspelt or quoted. It prints requests/s and p50/p95/p99 per run,
// each beside the ceiling, and the share of the books a sample of the broad
// texts matches.
package searchload

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bookworm-store/bookworm/internal/adapters/ollama/ollamatest"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/catalogstore"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// TestMain runs the subcommand named by the first argument, or the (no)
// tests when there is none.
func TestMain(m *testing.M) {
	if len(os.Args) < 2 || strings.HasPrefix(os.Args[1], "-") {
		os.Exit(m.Run())
	}
	var err error
	switch os.Args[1] {
	case "double":
		err = double(os.Args[2:])
	case "embed":
		err = embed(os.Args[2:])
	case "load":
		err = load(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "searchload:", err)
		os.Exit(1)
	}
}

// double serves the Ollama double until SIGINT or SIGTERM.
func double(args []string) error {
	fs := flag.NewFlagSet("double", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	_ = fs.Parse(args)
	s, err := ollamatest.Start(*addr)
	if err != nil {
		return err
	}
	fmt.Println(s.URL)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	s.Stop()
	return nil
}

// embed stores the double's embedding of every live book without one, in
// batches of plain INSERTs, then lets the store create the HNSW index
// (faster than growing the index row by row), exactly as the server's
// indexer would have written them (model, text hash, version).
func embed(args []string) error {
	fs := flag.NewFlagSet("embed", flag.ExitOnError)
	dbURL := fs.String("db", "", "database URL")
	model := fs.String("model", "bench-double", "model name stored with the vectors (the server's --embed-model)")
	_ = fs.Parse(args)
	ctx := context.Background()
	// The HNSW build wants its graph in memory.
	pool, err := pgxpool.New(ctx, *dbURL+"&maintenance_work_mem=1GB")
	if err != nil {
		return err
	}
	defer pool.Close()
	store := catalogstore.NewEmbeddings(pool)
	if ok, err := store.Ready(ctx); err != nil || !ok {
		return fmt.Errorf("no pgvector in this database (%v)", err)
	}
	start := time.Now()
	total := 0
	var first catalog.BookEmbedding
	for after := ""; ; {
		recs, err := store.PendingEmbeddings(ctx, *model, after, 2000)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			break
		}
		ids, hashes, vectors, versions := make([]string, len(recs)), make([]string, len(recs)), make([]string, len(recs)), make([]int64, len(recs))
		for i, r := range recs {
			text := catalog.EmbeddingText(r)
			v := ollamatest.Embed(text)
			ids[i], hashes[i], versions[i], vectors[i] = r.ID, catalog.TextHash(text), r.Version, vectorText(v)
			if total == 0 && i == 0 {
				first = catalog.BookEmbedding{BookID: r.ID, Version: r.Version, TextHash: hashes[i], Vector: v}
			}
		}
		if _, err := pool.Exec(ctx, `INSERT INTO catalog.book_embeddings (book_id, model, dimension, embedding, text_hash, book_version)
			SELECT u.id, $5, $6, u.v::vector, u.h, u.ver FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[]) AS u (id, v, h, ver)
			ON CONFLICT (book_id) DO UPDATE SET model = excluded.model, dimension = excluded.dimension,
				embedding = excluded.embedding, text_hash = excluded.text_hash, book_version = excluded.book_version`,
			ids, vectors, hashes, versions, *model, ollamatest.Dimension); err != nil {
			return err
		}
		total += len(recs)
		after = recs[len(recs)-1].ID
	}
	fmt.Printf("embedded %d books in %.1f s\n", total, time.Since(start).Seconds())
	if total > 0 {
		// The store's own write creates the index of the dimension.
		start = time.Now()
		if err := store.PutEmbeddings(ctx, *model, []catalog.BookEmbedding{first}); err != nil {
			return err
		}
		fmt.Printf("HNSW index built in %.1f s\n", time.Since(start).Seconds())
	}
	_, err = pool.Exec(ctx, `VACUUM ANALYZE catalog.book_embeddings`)
	return err
}

func vectorText(v []float32) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, x := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%g", x)
	}
	b.WriteByte(']')
	return b.String()
}

// vocabulary is what the query texts are made of.
type vocabulary struct {
	broad  []string // words matching at least a tenth of the live books
	titles []string // words of titles and author names (the lexicon)
	books  int
}

func readVocabulary(ctx context.Context, db *pgx.Conn) (vocabulary, error) {
	var v vocabulary
	if err := db.QueryRow(ctx, `SELECT count(*) FROM catalog.books WHERE delete_time IS NULL`).Scan(&v.books); err != nil {
		return v, err
	}
	rows, err := db.Query(ctx, `SELECT word FROM catalog.search_words WHERE word ~ '^[a-z]{3,}$' ORDER BY word`)
	if err != nil {
		return v, err
	}
	if v.titles, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return v, err
	}
	// The surface words of titles and descriptions whose stem is in at
	// least a tenth of the documents.
	rows, err = db.Query(ctx, `
		WITH st AS (SELECT word, ndoc FROM ts_stat('SELECT search FROM catalog.books WHERE delete_time IS NULL')),
		     w AS (SELECT DISTINCT x AS word
		             FROM (SELECT title || ' ' || description AS t FROM catalog.books WHERE delete_time IS NULL LIMIT 5000) b,
		                  regexp_split_to_table(lower(b.t), '[^a-z]+') AS x
		            WHERE length(x) >= 3)
		SELECT w.word FROM w JOIN st ON st.word = (tsvector_to_array(to_tsvector('english', w.word)))[1]
		 WHERE st.ndoc * 10 >= $1 ORDER BY w.word`, v.books)
	if err != nil {
		return v, err
	}
	v.broad, err = pgx.CollectRows(rows, pgx.RowTo[string])
	return v, err
}

// generator hands out search texts, each once per run.
type generator struct {
	mu    sync.Mutex
	r     *rand.Rand
	v     vocabulary
	seen  map[string]bool
	broad []string // the broad texts handed out, for the match report
	sent  map[string]int
}

// broadShare is the share of broad texts in the mix.
const broadShare = 0.4

func (g *generator) next() (string, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for {
		q, kind := g.draw()
		if g.seen[q] {
			continue
		}
		g.seen[q] = true
		g.sent[kind]++
		if strings.HasPrefix(kind, "broad") {
			g.broad = append(g.broad, q)
		}
		return q, kind
	}
}

func (g *generator) pick(words []string) string { return words[g.r.IntN(len(words))] }

func (g *generator) draw() (string, string) {
	r, v := g.r, g.v
	if r.Float64() < broadShare {
		// Each broad word alone once, then broad words in "or" pairs with
		// any word of the catalogue's titles (matching at least what the
		// broad word matches), then three.
		if unused := g.unusedBroad(); len(unused) > 0 && r.IntN(4) == 0 {
			return g.pick(unused), "broad word"
		}
		if r.IntN(3) > 0 {
			return g.pick(v.broad) + " or " + g.pick(v.titles), "broad or-pair"
		}
		return g.pick(v.broad) + " or " + g.pick(v.titles) + " or " + g.pick(v.titles), "broad or-triple"
	}
	a, b := g.pick(v.titles), g.pick(v.titles)
	switch x := r.IntN(10); {
	case x < 6:
		return a + " " + b, "narrow pair"
	case x < 8:
		return a + " " + typo(r, b), "narrow pair, misspelt"
	case x < 9:
		return `"` + a + " " + b + `"`, "narrow phrase"
	default:
		return a + " " + b + " " + g.pick(v.titles), "narrow triple"
	}
}

func (g *generator) unusedBroad() []string {
	var out []string
	for _, w := range g.v.broad {
		if !g.seen[w] {
			out = append(out, w)
		}
	}
	return out
}

// typo swaps two neighbouring letters inside a word of five letters or
// more.
func typo(r *rand.Rand, w string) string {
	if len(w) < 5 {
		return w
	}
	i := 1 + r.IntN(len(w)-3)
	b := []byte(w)
	b[i], b[i+1] = b[i+1], b[i]
	return string(b)
}

// result is one run's measurements.
type result struct {
	name     string
	n        int
	errors   int
	degraded int
	secs     float64
	lat      []time.Duration
	byKind   map[string][]time.Duration
	firstErr string
}

func (r *result) rps() float64 { return float64(r.n) / r.secs }

func (r *result) pct(p float64) float64 { return pct(r.lat, p) }

// pct is the p quantile of sorted, in milliseconds.
func pct(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return float64(sorted[int(p*float64(len(sorted)-1))].Microseconds()) / 1000
}

// client is one keep-alive connection.
func client() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1, DisableCompression: true,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}}
}

type searchResponse struct {
	Results        []json.RawMessage `json:"results"`
	Mode           string            `json:"mode"`
	Degraded       bool              `json:"degraded"`
	DegradedReason string            `json:"degradedReason"`
}

// protoModeDegraded reads the mode (3) and degraded (4) fields of a
// binary SearchBooksResponse, skipping the results unread.
func protoModeDegraded(b []byte) (string, bool) {
	var (
		mode     catalogv1.SearchMode
		degraded bool
	)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			break
		}
		b = b[n:]
		if typ == protowire.VarintType && (num == 3 || num == 4) {
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				break
			}
			if num == 3 {
				mode = catalogv1.SearchMode(v)
			} else {
				degraded = v != 0
			}
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			break
		}
		b = b[m:]
	}
	return mode.String(), degraded
}

// jsonField returns the raw value of the last top-level-looking "key" in
// a JSON object (a string value with its quotes), or "". protojson may put
// spaces around the colon.
func jsonField(payload []byte, key string) string {
	k := []byte(`"` + key + `"`)
	i := bytes.LastIndex(payload, k)
	if i < 0 {
		return ""
	}
	rest := bytes.TrimLeft(payload[i+len(k):], " ")
	if len(rest) == 0 || rest[0] != ':' {
		return ""
	}
	rest = bytes.TrimLeft(rest[1:], " ")
	end := bytes.IndexAny(rest, ",}")
	if end < 0 {
		return ""
	}
	return string(bytes.TrimRight(rest[:end], " "))
}

// jsonString is jsonField of a string value, unquoted.
func jsonString(payload []byte, key string) string {
	return strings.Trim(jsonField(payload, key), `"`)
}

// run sends requests from conns workers for d and measures them; body makes
// the request body of a search text ("" for the health check).
func run(name, url string, clients []*http.Client, d time.Duration, g *generator, mode string, binary bool) *result {
	res := &result{name: name, byKind: map[string][]time.Duration{}}
	var mu sync.Mutex
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			byKind := map[string][]time.Duration{}
			var n, errs, degraded int
			var firstErr string
			for time.Now().Before(deadline) {
				path, body, kind := "/grpc.health.v1.Health/Check", []byte("{}"), ""
				contentType := "application/json"
				if binary {
					body, contentType = nil, "application/proto"
				}
				if mode != "" {
					var q string
					q, kind = g.next()
					path = "/bookworm.catalog.v1.CatalogService/SearchBooks"
					if binary {
						body, _ = proto.Marshal(&catalogv1.SearchBooksRequest{Query: q, PageSize: 20,
							Mode: catalogv1.SearchMode(catalogv1.SearchMode_value[mode])})
					} else {
						body, _ = json.Marshal(map[string]any{"query": q, "pageSize": 20, "mode": mode})
					}
				}
				t0 := time.Now()
				resp, err := c.Post(url+path, contentType, bytes.NewReader(body))
				var payload []byte
				if err == nil {
					payload, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, payload)
					}
				}
				lat = append(lat, time.Since(t0))
				byKind[kind] = append(byKind[kind], time.Since(t0))
				n++
				if err == nil && mode != "" {
					// The two fields the check needs, without decoding the
					// page (the tool shares the machine with the server).
					answered, isDegraded := jsonString(payload, "mode"), jsonField(payload, "degraded") == "true"
					if binary {
						answered, isDegraded = protoModeDegraded(payload)
					}
					if answered != mode || isDegraded {
						degraded++
						if firstErr == "" {
							var sr searchResponse
							_ = json.Unmarshal(payload, &sr)
							if binary {
								var pr catalogv1.SearchBooksResponse
								_ = proto.Unmarshal(payload, &pr)
								sr.Mode, sr.Degraded, sr.DegradedReason = pr.GetMode().String(), pr.GetDegraded(), pr.GetDegradedReason()
							}
							firstErr = fmt.Sprintf("answered %s, degraded %v (%s)", sr.Mode, sr.Degraded, sr.DegradedReason)
						}
					}
				}
				if err != nil {
					errs++
					if firstErr == "" {
						firstErr = err.Error()
					}
				}
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			for k, l := range byKind {
				res.byKind[k] = append(res.byKind[k], l...)
			}
			res.n += n
			res.errors += errs
			res.degraded += degraded
			if res.firstErr == "" {
				res.firstErr = firstErr
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.secs = time.Since(start).Seconds()
	slices.Sort(res.lat)
	return res
}

func load(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	url := fs.String("url", "", "server base URL")
	dbURL := fs.String("db", "", "database URL (to read the vocabulary and count matches)")
	d := fs.Duration("duration", 20*time.Second, "length of each run")
	warm := fs.Duration("warmup", 3*time.Second, "unmeasured run before each measured one")
	conns := fs.Int("conns", 8, "connections")
	seed := fs.Uint64("seed", 1, "seed of the query texts")
	only := fs.String("modes", "lexical,semantic,hybrid", "search modes to run, after the ceiling")
	codec := fs.String("codec", "json", "json (Connect JSON, as a browser or curl sends) or proto (Connect binary, as the SDKs send)")
	_ = fs.Parse(args)
	if *codec != "json" && *codec != "proto" {
		return fmt.Errorf("--codec %q: json or proto", *codec)
	}
	fmt.Printf("codec: %s\n", *codec)
	ctx := context.Background()
	db, err := pgx.Connect(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close(ctx)
	v, err := readVocabulary(ctx, db)
	if err != nil {
		return err
	}
	if len(v.broad) == 0 || len(v.titles) < 10 {
		return errors.New("the catalogue has no words matching a tenth of the books")
	}
	fmt.Printf("catalogue: %d live books; %d title and author words; %d words matching >= 10%% of the books: %s\n",
		v.books, len(v.titles), len(v.broad), strings.Join(v.broad, " "))
	g := &generator{r: rand.New(rand.NewPCG(*seed, 2)), v: v, seen: map[string]bool{}, sent: map[string]int{}}
	clients := make([]*http.Client, *conns)
	for i := range clients {
		clients[i] = client()
	}
	var results []*result
	for _, m := range []struct{ name, mode string }{
		{"health check (ceiling)", ""},
		{"SearchBooks lexical", "SEARCH_MODE_LEXICAL"},
		{"SearchBooks semantic", "SEARCH_MODE_SEMANTIC"},
		{"SearchBooks hybrid", "SEARCH_MODE_HYBRID"},
	} {
		if m.mode != "" && !slices.Contains(strings.Split(*only, ","), strings.ToLower(strings.TrimPrefix(m.mode, "SEARCH_MODE_"))) {
			continue
		}
		run(m.name, *url, clients, *warm, g, m.mode, *codec == "proto")
		g.mu.Lock()
		g.broad, g.sent = nil, map[string]int{}
		g.mu.Unlock()
		r := run(m.name, *url, clients, *d, g, m.mode, *codec == "proto")
		results = append(results, r)
		if m.mode != "" {
			kinds := make([]string, 0, len(g.sent))
			for k, n := range g.sent {
				l := r.byKind[k]
				slices.Sort(l)
				kinds = append(kinds, fmt.Sprintf("%s %d (p50 %.1f, p95 %.1f ms)", k, n, pct(l, 0.5), pct(l, 0.95)))
			}
			sort.Strings(kinds)
			share, err := broadShares(ctx, db, g.r, g.broad, v.books)
			if err != nil {
				return err
			}
			fmt.Printf("  %s texts: %s; broad texts match %s of the books\n", m.name, strings.Join(kinds, ", "), share)
		}
	}
	ceil := results[0]
	fmt.Printf("\n%-24s %8s %9s %9s %8s %8s %8s %7s %9s\n", "run", "requests", "req/s", "of ceil.", "p50 ms", "p95 ms", "p99 ms", "errors", "degraded")
	for _, r := range results {
		fmt.Printf("%-24s %8d %9.0f %8.1f%% %8.2f %8.2f %8.2f %7d %9d\n", r.name, r.n, r.rps(), 100*r.rps()/ceil.rps(),
			r.pct(0.50), r.pct(0.95), r.pct(0.99), r.errors, r.degraded)
	}
	for _, r := range results[1:] {
		fmt.Printf("RESULT %s rps=%.0f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f rps_ratio=%.3f p95_vs_ceiling=%.1fx\n",
			strings.ReplaceAll(r.name, " ", "_"), r.rps(), r.pct(0.50), r.pct(0.95), r.pct(0.99), r.rps()/ceil.rps(), r.pct(0.95)/ceil.pct(0.95))
		if r.firstErr != "" {
			fmt.Printf("  first problem: %s\n", r.firstErr)
		}
	}
	fmt.Printf("RESULT ceiling rps=%.0f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f\n", ceil.rps(), ceil.pct(0.5), ceil.pct(0.95), ceil.pct(0.99))
	return nil
}

// broadShares counts the exact matches of up to 40 of the broad texts sent
// and returns "min X%, median Y%".
func broadShares(ctx context.Context, db *pgx.Conn, r *rand.Rand, texts []string, books int) (string, error) {
	if len(texts) == 0 {
		return "n/a (none sent)", nil
	}
	sample := slices.Clone(texts)
	r.Shuffle(len(sample), func(i, j int) { sample[i], sample[j] = sample[j], sample[i] })
	sample = sample[:min(40, len(sample))]
	shares := make([]float64, 0, len(sample))
	for _, q := range sample {
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM catalog.books WHERE delete_time IS NULL
			AND search @@ websearch_to_tsquery('english', $1)`, q).Scan(&n); err != nil {
			return "", err
		}
		shares = append(shares, 100*float64(n)/float64(books))
	}
	slices.Sort(shares)
	return fmt.Sprintf("min %.1f%%, median %.1f%% (sample of %d)", shares[0], shares[len(shares)/2], len(shares)), nil
}
