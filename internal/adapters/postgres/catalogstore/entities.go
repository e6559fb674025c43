package catalogstore

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
)

// Entities is catalog.Entities on PostgreSQL: one table per kind.
type Entities struct {
	pool         *pgxpool.Pool
	renamed      func()
	booksChanged func(ctx context.Context, id string)
}

var _ catalog.Entities = (*Entities)(nil)

// NewEntities returns the author, category and publisher store of pool.
func NewEntities(pool *pgxpool.Pool) *Entities { return &Entities{pool: pool} }

// WithRenamed has s call renamed after a committed rename of an entity whose
// name the books' embedding text carries (it may have made books pending:
// the composition root nudges the embedding indexer with it).
func (s *Entities) WithRenamed(renamed func()) *Entities {
	s.renamed = renamed
	return s
}

// WithBooksChanged has s call changed after a committed change that
// changes what books read as (a rename, a delete), with AllBooks: the
// BookCache of this process (BookCache.BooksChanged) then reads its own
// writes without waiting for the notification.
func (s *Entities) WithBooksChanged(changed func(ctx context.Context, id string)) *Entities {
	s.booksChanged = changed
	return s
}

// entityTable is the SQL of one kind. Every string is a constant of this
// file; none comes from input.
type entityTable struct {
	kind catalog.Kind
	// table and text column ("" when the kind has no text).
	table, text string
	// liveRefs selects whether a live book refers to entity $1.
	liveRefs string
	// refreshBooks recomputes the search documents of the books that refer
	// to entity $1, deleted or not.
	refreshBooks string
	// embeddedBooks selects, from catalog.books b, the books whose embedding
	// text carries the name of entity $1 ("" when the kind's name is not
	// embedded).
	embeddedBooks string
}

var entityTables = map[string]entityTable{
	catalog.AuthorKind.Name: {
		kind: catalog.AuthorKind, table: "catalog.authors", text: "biography",
		liveRefs: `SELECT EXISTS (SELECT 1 FROM catalog.book_authors ba JOIN catalog.books b ON b.id = ba.book_id
			WHERE ba.author_id = $1 AND b.delete_time IS NULL)`,
		refreshBooks:  `SELECT catalog.refresh_book_search(ARRAY(SELECT book_id FROM catalog.book_authors WHERE author_id = $1))`,
		embeddedBooks: `b.id IN (SELECT book_id FROM catalog.book_authors WHERE author_id = $1)`,
	},
	catalog.CategoryKind.Name: {
		kind: catalog.CategoryKind, table: "catalog.categories", text: "description",
		liveRefs:      `SELECT EXISTS (SELECT 1 FROM catalog.books WHERE category_id = $1 AND delete_time IS NULL)`,
		refreshBooks:  `SELECT catalog.refresh_book_search(ARRAY(SELECT id FROM catalog.books WHERE category_id = $1))`,
		embeddedBooks: `b.category_id = $1`,
	},
	catalog.PublisherKind.Name: {
		kind: catalog.PublisherKind, table: "catalog.publishers",
		liveRefs:     `SELECT EXISTS (SELECT 1 FROM catalog.books WHERE publisher_id = $1 AND delete_time IS NULL)`,
		refreshBooks: `SELECT catalog.refresh_book_search(ARRAY(SELECT id FROM catalog.books WHERE publisher_id = $1))`,
	},
}

func tableOf(k catalog.Kind) (entityTable, error) {
	t, ok := entityTables[k.Name]
	if !ok {
		return entityTable{}, failure.Invalid("kind", "unknown kind of entity")
	}
	return t, nil
}

func (t entityTable) textColumn() string {
	if t.text == "" {
		return "''"
	}
	return t.text
}

func (t entityTable) selectSQL() string {
	return `SELECT id::text, name, ` + t.textColumn() + `, create_time, update_time, version FROM ` + t.table
}

func (t entityTable) scan(row pgx.Row) (*catalog.Entity, error) {
	var r catalog.EntityRecord
	if err := row.Scan(&r.ID, &r.Name, &r.Text, &r.CreateTime, &r.UpdateTime, &r.Version); err != nil {
		return nil, err
	}
	r.CreateTime, r.UpdateTime = r.CreateTime.UTC(), r.UpdateTime.UTC()
	return catalog.RestoreEntity(t.kind, r), nil
}

func (t entityTable) get(ctx context.Context, q postgres.Querier, id string) (*catalog.Entity, error) {
	return t.scan(q.QueryRow(ctx, t.selectSQL()+` WHERE id = $1`, id))
}

// CreateEntity stores a new entity.
func (s *Entities) CreateEntity(ctx context.Context, e *catalog.Entity) (*catalog.Entity, error) {
	t, err := tableOf(e.Kind())
	if err != nil {
		return nil, err
	}
	r := e.Record()
	cols, vals := "id, name, create_time, update_time, version", "$1, $2, $3, $4, $5"
	a := []any{r.ID, r.Name, r.CreateTime, r.UpdateTime, r.Version}
	if t.text != "" {
		cols, vals = cols+", "+t.text, vals+", $6"
		a = append(a, r.Text)
	}
	// Read back what was stored: timestamps lose their nanoseconds.
	out, err := t.scan(s.pool.QueryRow(ctx, `INSERT INTO `+t.table+` (`+cols+`) VALUES (`+vals+`)
		RETURNING id::text, name, `+t.textColumn()+`, create_time, update_time, version`, a...))
	if err != nil {
		return nil, errTable.Translate(ctx, err, t.kind.Name+" "+r.ID)
	}
	return out, nil
}

// GetEntity returns one entity.
func (s *Entities) GetEntity(ctx context.Context, k catalog.Kind, id string) (*catalog.Entity, error) {
	t, err := tableOf(k)
	if err != nil {
		return nil, err
	}
	if !coreid.Valid(id) {
		return nil, failure.NotFound("%s %s not found", k.Name, id)
	}
	e, err := t.get(ctx, s.pool, id)
	return e, errTable.Translate(ctx, err, k.Name+" "+id)
}

// ListEntities returns one page of entities of kind k ordered by name,
// ties broken by id.
func (s *Entities) ListEntities(ctx context.Context, k catalog.Kind, pageSize int, pageToken string) (catalog.EntityPage, error) {
	t, err := tableOf(k)
	if err != nil {
		return catalog.EntityPage{}, err
	}
	fp := postgres.NewFingerprint("entities")
	fp.Add(k.Name)
	query := fp.Sum()
	cur, after, err := decodeCursor(pageToken, query)
	if err != nil {
		return catalog.EntityPage{}, err
	}
	if pageSize < 1 {
		pageSize = catalog.DefaultPageSize
	}
	a := postgres.Args{}
	where := ""
	if after {
		where = ` WHERE (name, id) > (` + a.Add(cur.Text) + `, ` + a.Add(cur.ID) + `::uuid)`
	}
	rows, err := s.pool.Query(ctx, t.selectSQL()+where+` ORDER BY name, id LIMIT `+a.Add(pageSize+1), a...)
	if err != nil {
		return catalog.EntityPage{}, errTable.Translate(ctx, err, k.Name+"s")
	}
	defer rows.Close()
	var page catalog.EntityPage
	for rows.Next() {
		if len(page.Entities) == pageSize {
			last := page.Entities[len(page.Entities)-1].Record()
			page.NextPageToken = cursor{Query: query, Text: last.Name, ID: last.ID}.encode()
			break
		}
		e, err := t.scan(rows)
		if err != nil {
			return catalog.EntityPage{}, errTable.Translate(ctx, err, k.Name+"s")
		}
		page.Entities = append(page.Entities, e)
	}
	if err := rows.Err(); err != nil {
		return catalog.EntityPage{}, errTable.Translate(ctx, err, k.Name+"s")
	}
	return page, nil
}

// UpdateEntity reads the entity, applies update and writes the result only
// if the row still has the version it was read at (failure.ErrConflict
// otherwise). A rename rewrites the search documents of the entity's books,
// marks for re-embedding those whose embedded text it changed (in the same
// transaction) and invalidates every cached book.
func (s *Entities) UpdateEntity(ctx context.Context, k catalog.Kind, id string, update func(*catalog.Entity) error) (*catalog.Entity, error) {
	t, err := tableOf(k)
	if err != nil {
		return nil, err
	}
	if !coreid.Valid(id) {
		return nil, failure.NotFound("%s %s not found", k.Name, id)
	}
	var out *catalog.Entity
	var updateErr error
	var marked, notified bool
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		e, err := t.get(ctx, tx, id)
		if err != nil {
			return err
		}
		before := e.Record()
		if updateErr = update(e); updateErr != nil {
			return updateErr
		}
		r := e.Record()
		out = e
		if r.Version == before.Version {
			return nil
		}
		renamed := r.Name != before.Name
		if renamed {
			// FOR UPDATE conflicts with the key-share locks that inserting
			// or updating a book referencing this row takes: those books
			// either commit before the refresh below (which then sees them)
			// or wait until this commits (and then index the new name).
			var version int64
			if err := tx.QueryRow(ctx, `SELECT version FROM `+t.table+` WHERE id = $1 FOR UPDATE`, id).Scan(&version); err != nil {
				return err
			}
		}
		set, a := "name = $3, update_time = $4, version = $5", []any{id, before.Version, r.Name, r.UpdateTime, r.Version}
		if t.text != "" {
			set += ", " + t.text + " = $6"
			a = append(a, r.Text)
		}
		tag, err := tx.Exec(ctx, `UPDATE `+t.table+` SET `+set+` WHERE id = $1 AND version = $2`, a...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return failure.Conflict("%s %s was changed concurrently; read it again and retry", k.Name, id)
		}
		if renamed {
			if _, err := tx.Exec(ctx, t.refreshBooks, id); err != nil {
				return err
			}
			if t.embeddedBooks != "" {
				if err := markRenamedEmbeddings(ctx, tx, t.embeddedBooks, id); err != nil {
					return err
				}
				marked = true
			}
			if err := NotifyBookChanged(ctx, tx, AllBooks); err != nil {
				return err
			}
			notified = true
		}
		out, err = t.get(ctx, tx, id) // as stored
		return err
	})
	switch {
	case updateErr != nil:
		return nil, updateErr // as the closure returned it
	case err != nil:
		return nil, errTable.Translate(ctx, err, k.Name+" "+id)
	}
	if marked && s.renamed != nil {
		s.renamed()
	}
	if notified && s.booksChanged != nil {
		s.booksChanged(ctx, AllBooks)
	}
	return out, nil
}

// DeleteEntity deletes an entity no live book refers to. The row is locked
// first, so a book being created or changed to refer to it either commits
// before the check (which then refuses) or waits for the delete and then
// fails its foreign key check.
func (s *Entities) DeleteEntity(ctx context.Context, k catalog.Kind, id string) error {
	t, err := tableOf(k)
	if err != nil {
		return err
	}
	if !coreid.Valid(id) {
		return failure.NotFound("%s %s not found", k.Name, id)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var version int64
		if err := tx.QueryRow(ctx, `SELECT version FROM `+t.table+` WHERE id = $1 FOR UPDATE`, id).Scan(&version); err != nil {
			return err
		}
		var used bool
		if err := tx.QueryRow(ctx, t.liveRefs, id).Scan(&used); err != nil {
			return err
		}
		if used {
			return failure.FailedPrecondition("%s %s is used by books that are not deleted", k.Name, id)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM `+t.table+` WHERE id = $1`, id); err != nil {
			return err
		}
		// Deleted books that referred to it lose the reference (and the
		// name they showed).
		return NotifyBookChanged(ctx, tx, AllBooks)
	})
	if err == nil && s.booksChanged != nil {
		s.booksChanged(ctx, AllBooks)
	}
	return errTable.Translate(ctx, err, k.Name+" "+id)
}
