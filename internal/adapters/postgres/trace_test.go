package postgres_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
)

// TestOpenTraces: a pool opened with a tracer provider makes a client span
// of each statement run inside a trace, transactions included, with the
// statement text and never a parameter's value; outside a trace it makes
// none.
func TestOpenTraces(t *testing.T) {
	ctx := pgtest.Ctx(t)
	name := pgtest.NewDatabase(t)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	pool, err := postgres.Open(ctx, pgtest.URL(name), pgtest.DiscardLog(), postgres.Options{
		Migrations: []postgres.Migrations{shelves}, TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	// Outside a trace: nothing.
	if _, err := pool.Exec(ctx, `INSERT INTO shelves.shelves (id, name) VALUES ($1, $2)`, 1, "secret-shelf"); err != nil {
		t.Fatal(err)
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Fatalf("%d spans outside any trace, want none", n)
	}

	ctx, root := tp.Tracer("test").Start(ctx, "request")
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var got string
		if err := tx.QueryRow(ctx, `SELECT name FROM shelves.shelves WHERE id = $1`, 1).Scan(&got); err != nil {
			return err
		}
		b := &pgx.Batch{}
		b.Queue(`SELECT 1`)
		b.Queue(`SELECT 2`)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = pool.Exec(ctx, `INSERT INTO shelves.shelves (id, name) VALUES ($1, $2)`, 1, "secret-again")
	if !postgres.IsCode(err, "23505") {
		t.Fatalf("duplicate insert: %v", err)
	}
	root.End()

	var names []string
	for _, s := range exp.GetSpans() {
		if s.Name == "request" || s.Name == "PREPARE" {
			// pgx prepares a statement new to a connection inside the
			// query's span: PREPARE sits under SELECT or INSERT.
			continue
		}
		names = append(names, s.Name)
		if s.Parent.SpanID() != root.SpanContext().SpanID() || s.SpanKind != trace.SpanKindClient {
			t.Errorf("span %s: parent %v kind %v, want a client span under the request", s.Name, s.Parent.SpanID(), s.SpanKind)
		}
		attrs := map[string]string{}
		for _, kv := range s.Attributes {
			attrs[string(kv.Key)] = kv.Value.Emit()
		}
		if attrs["db.system.name"] != "postgresql" || attrs["db.namespace"] != name {
			t.Errorf("span %s attributes %v", s.Name, attrs)
		}
		for _, v := range attrs {
			if strings.Contains(v, "secret") {
				t.Errorf("span %s holds a parameter value: %v", s.Name, attrs)
			}
		}
		if s.Name == "INSERT" {
			if s.Status.Code != codes.Error || attrs["db.response.status_code"] != "23505" {
				t.Errorf("failed INSERT: status %v, code %q", s.Status, attrs["db.response.status_code"])
			}
			if attrs["db.query.text"] != `INSERT INTO shelves.shelves (id, name) VALUES ($1, $2)` {
				t.Errorf("INSERT text %q", attrs["db.query.text"])
			}
		}
	}
	want := []string{"BEGIN", "SELECT", "BATCH", "COMMIT", "INSERT"}
	for _, w := range want {
		if !slices.Contains(names, w) {
			t.Errorf("spans %v, want %v", names, want)
			break
		}
	}
	if strings.Count(strings.Join(names, ","), "SELECT") != 1 {
		t.Errorf("spans %v: the batch's statements are events of BATCH, not spans", names)
	}
}
