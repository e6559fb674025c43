// End-to-end test of the TypeScript SDK's error helpers against a running
// server (BOOKWORM_URL, BOOKWORM_TOKEN as in catalog.test.ts): an invalid
// CreateBook and an invalid CreateReview answer INVALID_ARGUMENT, and
// fieldViolations reads the google.rpc.BadRequest details with the SDK's
// own types, over Connect and gRPC.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";

import { Code, ConnectError, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import {
  BadRequestSchema,
  CatalogService,
  RatingService,
  fieldViolations,
  retryDelayMs,
  type BadRequest,
  type FieldViolation,
} from "@bookworm/sdk";

const baseUrl = process.env.BOOKWORM_URL ?? "";
if (baseUrl === "") {
  throw new Error("BOOKWORM_URL must name a running BookWorm server, e.g. http://127.0.0.1:8080");
}
const token = process.env.BOOKWORM_TOKEN ?? "";

const bearer: Interceptor = (next) => async (req) => {
  if (token !== "") {
    req.header.set("Authorization", `Bearer ${token}`);
  }
  return next(req);
};

const http2Session = new Http2SessionManager(baseUrl);
after(() => http2Session.abort());

const transports: Record<string, Transport> = {
  "Connect JSON": createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors: [bearer] }),
  "gRPC over HTTP/2": createGrpcTransport({ baseUrl, sessionManager: http2Session, interceptors: [bearer] }),
};

async function violations(p: Promise<unknown>): Promise<FieldViolation[]> {
  try {
    await p;
  } catch (e) {
    const err = ConnectError.from(e);
    assert.equal(err.code, Code.InvalidArgument, `got ${Code[err.code]} (${err.rawMessage}), want InvalidArgument`);
    // The detail type itself is exported too.
    const details: BadRequest[] = err.findDetails(BadRequestSchema);
    assert.equal(details.length, 1, "one google.rpc.BadRequest detail");
    assert.equal(retryDelayMs(err), undefined, "no RetryInfo on a bad request");
    return fieldViolations(e);
  }
  assert.fail("call succeeded, want InvalidArgument");
}

function fields(vs: FieldViolation[]): string[] {
  return vs.map((v) => v.field);
}

for (const [name, transport] of Object.entries(transports)) {
  describe(`error details over ${name}`, () => {
    const catalog = createClient(CatalogService, transport);
    const rating = createClient(RatingService, transport);

    test("an invalid CreateBook names its bad fields", async () => {
      const vs = await violations(
        catalog.createBook({
          book: {
            title: "",
            stockQuantity: -1,
            categoryId: "not-a-uuid",
            publisherId: randomUUID(),
            authorIds: [randomUUID()],
          },
        }),
      );
      for (const f of ["book.title", "book.category_id"]) {
        assert.ok(fields(vs).includes(f), `violations ${JSON.stringify(vs)} lack ${f}`);
      }
      for (const v of vs) {
        assert.ok(v.description.length > 0, `violation of ${v.field} has no description`);
        assert.deepEqual(Object.keys(v).sort(), ["description", "field"]);
      }
    });

    test("an invalid CreateReview names its bad fields", async () => {
      const vs = await violations(rating.createReview({ bookId: "not-a-uuid", review: { stars: 9, title: "x" } }));
      for (const f of ["book_id", "review.stars"]) {
        assert.ok(fields(vs).includes(f), `violations ${JSON.stringify(vs)} lack ${f}`);
      }
    });

    test("an error without details has no violations", async () => {
      try {
        await catalog.getBook({ id: randomUUID() });
        assert.fail("unknown book found");
      } catch (e) {
        assert.equal(ConnectError.from(e).code, Code.NotFound);
        assert.deepEqual(fieldViolations(e), []);
      }
      assert.deepEqual(fieldViolations(new Error("not a ConnectError")), []);
    });
  });
}
