package catalogstore

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
)

// CatalogChannel is the LISTEN/NOTIFY channel on which every write that
// changes what a book reads as announces it; the payload is the book id, or
// AllBooks.
const CatalogChannel = "bookworm_catalog"

// AllBooks is the payload that invalidates every cached book: for changes
// that touch many books at once, such as renaming a category.
const AllBooks = "*"

// DefaultCacheEntries is the size of a BookCache made with maxEntries < 1.
const DefaultCacheEntries = 20_000

// NotifyBookChanged announces, inside tx, that the book with id bookID (or
// AllBooks) changed. Every adapter that writes to books must call it in the
// transaction of the write: the notification goes out when, and only if,
// the transaction commits, so caches never evict too early or miss a commit.
func NotifyBookChanged(ctx context.Context, tx pgx.Tx, bookID string) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, CatalogChannel, bookID)
	return err
}

// BookCache is catalog.Books served from memory. The catalog is read far
// more than it is written, so what was read stays cached until a
// notification on CatalogChannel says it changed; Run listens for those.
// GetBooks caches books one by one and a notification evicts the book it
// names. ListBooks and SearchBooks cache whole pages, and since any change
// may move a book into or out of any page, every notification drops them
// all. Until Run is listening (and whenever its connection is lost) the
// cache is bypassed, so it never serves anything whose change it could have
// missed. Writes go to the database and evict before they return, so a
// replica reads its own writes at once; other replicas see them as soon as
// the notification arrives.
//
// What the cache returns is shared between callers: read the books and the
// page slices, never change them or call Apply on a book (UpdateBook hands
// its closure a private copy).
type BookCache struct {
	inner *Books
	pool  *pgxpool.Pool
	// index ranks lexical searches in memory (index.go); it follows the
	// same notifications as the cache.
	index      *SearchIndex
	maxEntries int
	log        *slog.Logger

	listening atomic.Bool
	// lastPayload is the payload of the last notification handled; tests
	// wait on it to know that earlier notifications were handled too.
	lastPayload atomic.Pointer[string]

	mu    sync.RWMutex
	books map[string]*catalog.Book
	// pages are cached list and search pages by their exact query;
	// pageBooks counts the books they hold, bounded by maxEntries too.
	pages     map[string]cachedPage
	pageBooks int
	// gen grows with every eviction; a fill that read the database before
	// an eviction is dropped, since it may hold the evicted state.
	gen uint64
}

// cachedPage is a page of ListBooks (list) or of SearchBooks (search).
type cachedPage struct {
	list   catalog.BookPage
	search catalog.SearchPage
}

func (p cachedPage) size() int { return len(p.list.Books) + len(p.search.Hits) }

var _ catalog.Books = (*BookCache)(nil)

// NewBookCache returns a cache of at most maxEntries books in front of
// inner (DefaultCacheEntries when maxEntries < 1), and of pages holding at
// most a quarter of that in all. It serves from memory only while Run is
// running.
func NewBookCache(inner *Books, pool *pgxpool.Pool, maxEntries int, log *slog.Logger) *BookCache {
	if maxEntries < 1 {
		maxEntries = DefaultCacheEntries
	}
	if log == nil {
		log = slog.Default()
	}
	c := &BookCache{inner: inner, pool: pool, maxEntries: maxEntries, log: log, index: NewSearchIndex(pool, log),
		books: make(map[string]*catalog.Book, min(maxEntries, 1024)),
		pages: make(map[string]cachedPage)}
	c.index.applied = c.evictPages
	return c
}

// cacheKey is the canonical form of a book id (coreid.Canonical).
func cacheKey(id string) string { return coreid.Canonical(id) }

// GetBooks returns the cached books and reads the others from the database,
// caching them.
func (c *BookCache) GetBooks(ctx context.Context, ids []string) ([]*catalog.Book, error) {
	if !c.listening.Load() {
		return c.inner.GetBooks(ctx, ids)
	}
	out := make([]*catalog.Book, 0, len(ids))
	var miss []string
	c.mu.RLock()
	gen := c.gen
	for _, id := range ids {
		if b, ok := c.books[cacheKey(id)]; ok {
			out = append(out, b)
		} else {
			miss = append(miss, id)
		}
	}
	c.mu.RUnlock()
	if len(miss) == 0 {
		return out, nil
	}
	found, err := c.inner.GetBooks(ctx, miss)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.gen == gen && c.listening.Load() {
		for _, b := range found {
			if len(c.books) >= c.maxEntries {
				// Full: drop an arbitrary entry (map iteration starts at a
				// random place). A read-mostly catalog that does not fit
				// keeps a random sample of it hot, which is good enough.
				for k := range c.books {
					delete(c.books, k)
					break
				}
			}
			c.books[b.ID()] = b
		}
	}
	c.mu.Unlock()
	return append(out, found...), nil
}

// evict forgets one book, or every book for AllBooks, and every page.
func (c *BookCache) evict(id string) {
	c.mu.Lock()
	c.gen++
	if id == AllBooks {
		clear(c.books)
	} else {
		delete(c.books, cacheKey(id))
	}
	clear(c.pages)
	c.pageBooks = 0
	c.mu.Unlock()
}

// evictPages forgets every cached page: the search index changed, and a
// page may have been read from it before the change reached it.
func (c *BookCache) evictPages() {
	c.mu.Lock()
	c.gen++
	clear(c.pages)
	c.pageBooks = 0
	c.mu.Unlock()
}

// page returns the cached page of key and the generation to fill it at.
func (c *BookCache) page(key string) (cachedPage, bool, uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	p, ok := c.pages[key]
	return p, ok, c.gen
}

// putPage caches p under key unless an eviction happened since gen.
func (c *BookCache) putPage(key string, gen uint64, p cachedPage) {
	n := p.size()
	if n > c.pageBudget() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || !c.listening.Load() {
		return
	}
	for k, old := range c.pages { // arbitrary victims, as for books
		if c.pageBooks+n <= c.pageBudget() {
			break
		}
		delete(c.pages, k)
		c.pageBooks -= old.size()
	}
	if old, ok := c.pages[key]; ok {
		c.pageBooks -= old.size()
	}
	c.pages[key] = p
	c.pageBooks += n
}

// pageBudget is how many books the cached pages may hold in all: a quarter
// of the book budget, since pages hold copies of their books and a busy
// search front can fill any budget with one-off queries.
func (c *BookCache) pageBudget() int { return max(c.maxEntries/4, 1) }

// Len returns the number of cached books.
func (c *BookCache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.books)
}

// BooksChanged is what a writer beside the cache calls after committing a
// change of a book (or of AllBooks, such as a renamed author), so that this
// process reads its own write at once instead of when the notification
// arrives.
func (c *BookCache) BooksChanged(ctx context.Context, id string) {
	c.evict(id)
	if id == AllBooks {
		c.index.Reset()
		return
	}
	c.index.RefreshNow(ctx, id)
}

// SearchIndex returns the cache's search index.
func (c *BookCache) SearchIndex() *SearchIndex { return c.index }

// Listening reports whether the cache is serving from memory, that is,
// whether Run holds a listening connection.
func (c *BookCache) Listening() bool { return c.listening.Load() }

// CreateBook creates the book in the database.
func (c *BookCache) CreateBook(ctx context.Context, b *catalog.Book) (*catalog.Book, error) {
	out, err := c.inner.CreateBook(ctx, b)
	c.evict(b.ID())
	c.index.RefreshNow(ctx, b.ID())
	return out, err
}

// UpdateBook updates the book in the database and evicts it.
func (c *BookCache) UpdateBook(ctx context.Context, id string, update func(*catalog.Book) error) (*catalog.Book, error) {
	out, err := c.inner.UpdateBook(ctx, id, update)
	c.evict(id) // even on error: a failed commit may still have committed
	c.index.RefreshNow(ctx, id)
	return out, err
}

// DeleteBook deletes the book in the database and evicts it.
func (c *BookCache) DeleteBook(ctx context.Context, id string, now time.Time) error {
	err := c.inner.DeleteBook(ctx, id, now)
	c.evict(id)
	c.index.RefreshNow(ctx, id)
	return err
}

// pageKey is the exact query of a page: what its token is bound to, plus
// the page size and the token.
func pageKey(f *postgres.Fingerprint, size int, token string) string {
	f.Add(strconv.Itoa(size), token)
	return f.String()
}

// ListBooks returns a cached page or reads it from the database.
func (c *BookCache) ListBooks(ctx context.Context, q catalog.ListBooksQuery) (catalog.BookPage, error) {
	if !c.listening.Load() {
		return c.inner.ListBooks(ctx, q)
	}
	key := pageKey(listFingerprint(q), q.PageSize, q.PageToken)
	p, ok, gen := c.page(key)
	if ok {
		return p.list, nil
	}
	page, err := c.inner.ListBooks(ctx, q)
	if err == nil {
		c.putPage(key, gen, cachedPage{list: page})
	}
	return page, err
}

// SearchBooks returns a cached page or reads it from the database.
func (c *BookCache) SearchBooks(ctx context.Context, q catalog.SearchBooksQuery) (catalog.SearchPage, error) {
	if !c.listening.Load() {
		return c.inner.SearchBooks(ctx, q)
	}
	key := pageKey(searchFingerprint(q), q.PageSize, q.PageToken)
	p, ok, gen := c.page(key)
	if ok {
		return p.search, nil
	}
	page, handled, err := c.searchIndexed(ctx, q)
	if err != nil {
		err = errTable.Translate(ctx, err, "books")
	}
	if !handled {
		page, err = c.inner.SearchBooks(ctx, q)
	}
	// A degraded page (nothing embedded yet) is not kept: what ends the
	// degradation announces no book change.
	if err == nil && page.Degraded == "" {
		c.putPage(key, gen, cachedPage{search: page})
	}
	return page, err
}

// Back-off between attempts to get the listening connection back.
const (
	listenRetryMin = 100 * time.Millisecond
	listenRetryMax = 10 * time.Second
)

// Run listens on CatalogChannel on a connection of its own and evicts what
// notifications name, until ctx is cancelled; then it returns nil. When the
// connection drops it stops serving from memory, flushes the cache (it may
// have missed notifications) and reconnects with back-off (postgres.Listen).
func (c *BookCache) Run(ctx context.Context) error {
	indexCtx, stopIndex := context.WithCancel(ctx)
	indexDone := make(chan struct{})
	go func() {
		defer close(indexDone)
		c.index.Run(indexCtx)
	}()
	defer func() {
		stopIndex()
		<-indexDone
	}()
	postgres.Listen(ctx, c.pool, postgres.Listener{
		AppName: "bookworm-book-cache",
		Channel: CatalogChannel,
		Listening: func() {
			// Anything cached before now may have changed unannounced.
			c.evict(AllBooks)
			c.listening.Store(true)
			c.index.Reset()
			c.log.DebugContext(ctx, "book cache: listening", slog.String("channel", CatalogChannel))
		},
		Notified: func(payload string) {
			c.evict(payload)
			c.index.Changed(payload)
			c.lastPayload.Store(&payload)
		},
		Lost: func(err error, retryIn time.Duration) {
			c.listening.Store(false)
			c.index.Stop()
			c.evict(AllBooks)
			c.log.WarnContext(ctx, "book cache: listen connection lost, reading books from the database until it is back",
				slog.Any("error", err), slog.Duration("retry_in", retryIn))
		},
		MinBackoff: listenRetryMin,
		MaxBackoff: listenRetryMax,
	})
	c.listening.Store(false)
	c.evict(AllBooks)
	return nil
}
