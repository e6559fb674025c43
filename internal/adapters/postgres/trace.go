package postgres

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// tracerName is the instrumentation scope of the database spans.
const tracerName = "github.com/bookworm-store/bookworm/internal/adapters/postgres"

// queryTracer makes an OpenTelemetry client span of every query, batch,
// COPY, prepare and connect of a pool, through pgx's tracer interfaces.
// Transactions show as their BEGIN, COMMIT and ROLLBACK statements, which pgx
// sends as queries. A span holds the statement text as written (parameters
// are $n placeholders: their values are never recorded).
//
// It only records inside a trace: a query whose context carries no span
// (the relay's idle polls, the backlog measure, pruning, the cache's LISTEN)
// makes no root span of its own, so that background loops do not flood the
// collector with one-span traces every second.
type queryTracer struct {
	tracer trace.Tracer
	attrs  []attribute.KeyValue // of every span: system, database, server
}

var (
	_ pgx.QueryTracer    = (*queryTracer)(nil)
	_ pgx.BatchTracer    = (*queryTracer)(nil)
	_ pgx.CopyFromTracer = (*queryTracer)(nil)
	_ pgx.PrepareTracer  = (*queryTracer)(nil)
	_ pgx.ConnectTracer  = (*queryTracer)(nil)
)

func newQueryTracer(tp trace.TracerProvider, cfg *pgx.ConnConfig) *queryTracer {
	return &queryTracer{
		tracer: tp.Tracer(tracerName),
		attrs: []attribute.KeyValue{
			semconv.DBSystemNamePostgreSQL,
			semconv.DBNamespace(cfg.Database),
			semconv.ServerAddress(cfg.Host),
			semconv.ServerPort(int(cfg.Port)),
		},
	}
}

// start starts a client span under the span of ctx, or returns ctx as it is
// when ctx has none.
func (t *queryTracer) start(ctx context.Context, name string, attrs ...attribute.KeyValue) context.Context {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	ctx, _ = t.tracer.Start(ctx, name,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(t.attrs...),
		trace.WithAttributes(attrs...))
	return ctx
}

// end ends the span start began, recording err. A span it did not start (the
// caller's, or none) is left alone: start marks its own with spanKey.
func end(ctx context.Context, err error, attrs ...attribute.KeyValue) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() || ctx.Value(spanKey{}) != span {
		return
	}
	span.SetAttributes(attrs...)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			span.SetAttributes(semconv.DBResponseStatusCode(pgErr.Code))
		}
		span.RecordError(err)
		span.SetStatus(codes.Error, "")
	}
	span.End()
}

// spanKey marks, in a context, the span a queryTracer started, so that its
// end call never ends a span of the caller's: pgx calls the end hooks with
// the context the start hook returned, which is the caller's own when no
// span was started.
type spanKey struct{}

// startMarked is start plus the mark end checks.
func (t *queryTracer) startMarked(ctx context.Context, name string, attrs ...attribute.KeyValue) context.Context {
	sctx := t.start(ctx, name, attrs...)
	if sctx == ctx {
		return ctx
	}
	return context.WithValue(sctx, spanKey{}, trace.SpanFromContext(sctx))
}

// operation is the first word of a statement, upper case ("SELECT",
// "INSERT", "BEGIN"): the span's name and db.operation.name. A statement
// starting with a comment or WITH is named after that word.
func operation(sql string) string {
	sql = strings.TrimLeft(sql, " \t\r\n(")
	end := strings.IndexAny(sql, " \t\r\n;(")
	if end < 0 {
		end = len(sql)
	}
	op := strings.ToUpper(sql[:end])
	if op == "" || len(op) > 16 {
		return "SQL"
	}
	return op
}

// TraceQueryStart implements pgx.QueryTracer.
func (t *queryTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	op := operation(data.SQL)
	return t.startMarked(ctx, op, semconv.DBOperationName(op), semconv.DBQueryText(data.SQL))
}

// TraceQueryEnd implements pgx.QueryTracer.
func (t *queryTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	end(ctx, data.Err, attribute.Int64("db.response.affected_rows", data.CommandTag.RowsAffected()))
}

// TraceBatchStart implements pgx.BatchTracer: one span for the batch, an
// event per statement.
func (t *queryTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	return t.startMarked(ctx, "BATCH", semconv.DBOperationName("BATCH"), semconv.DBOperationBatchSize(data.Batch.Len()))
}

// TraceBatchQuery implements pgx.BatchTracer.
func (t *queryTracer) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() || ctx.Value(spanKey{}) != span {
		return
	}
	attrs := []attribute.KeyValue{semconv.DBQueryText(data.SQL)}
	if data.Err != nil {
		attrs = append(attrs, attribute.String("error", data.Err.Error()))
	}
	span.AddEvent("query", trace.WithAttributes(attrs...))
}

// TraceBatchEnd implements pgx.BatchTracer.
func (t *queryTracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchEndData) {
	end(ctx, data.Err)
}

// TraceCopyFromStart implements pgx.CopyFromTracer.
func (t *queryTracer) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceCopyFromStartData) context.Context {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	return t.startMarked(ctx, "COPY", semconv.DBOperationName("COPY"), semconv.DBCollectionName(data.TableName.Sanitize()))
}

// TraceCopyFromEnd implements pgx.CopyFromTracer.
func (t *queryTracer) TraceCopyFromEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceCopyFromEndData) {
	end(ctx, data.Err, attribute.Int64("db.response.affected_rows", data.CommandTag.RowsAffected()))
}

// TracePrepareStart implements pgx.PrepareTracer.
func (t *queryTracer) TracePrepareStart(ctx context.Context, _ *pgx.Conn, data pgx.TracePrepareStartData) context.Context {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	return t.startMarked(ctx, "PREPARE", semconv.DBOperationName("PREPARE"), semconv.DBQueryText(data.SQL))
}

// TracePrepareEnd implements pgx.PrepareTracer.
func (t *queryTracer) TracePrepareEnd(ctx context.Context, _ *pgx.Conn, data pgx.TracePrepareEndData) {
	end(ctx, data.Err)
}

// TraceConnectStart implements pgx.ConnectTracer: a new connection opened
// while serving a traced call shows as its own span.
func (t *queryTracer) TraceConnectStart(ctx context.Context, _ pgx.TraceConnectStartData) context.Context {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	return t.startMarked(ctx, "CONNECT", semconv.DBOperationName("CONNECT"))
}

// TraceConnectEnd implements pgx.ConnectTracer.
func (t *queryTracer) TraceConnectEnd(ctx context.Context, data pgx.TraceConnectEndData) {
	end(ctx, data.Err)
}
