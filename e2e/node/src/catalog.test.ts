// End-to-end test of the TypeScript SDK under Node: the generated
// CatalogService descriptor with @connectrpc/connect-node's Connect
// (HTTP/1.1) and gRPC (HTTP/2) transports against a running server, whose
// URL comes in BOOKWORM_URL. BOOKWORM_TOKEN, when set, is sent as a bearer
// token on every call. `go test ./e2e/...` starts the server and runs this.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";

import { BinaryReader } from "@bufbuild/protobuf/wire";
import { Code, ConnectError, createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { Availability, BookOrderField, CatalogService } from "@bookworm/sdk";

import { eur, randomIsbn, rejects, tok } from "./support.js";

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

// The HTTP/2 session is closed after the tests so that Node can exit.
const http2Session = new Http2SessionManager(baseUrl);
after(() => http2Session.abort());

const transports: Record<string, Transport> = {
  "Connect JSON over HTTP/1.1": createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors: [bearer] }),
  "Connect binary over HTTP/1.1, reads as GET": createConnectTransport({
    baseUrl,
    httpVersion: "1.1",
    useBinaryFormat: true,
    useHttpGet: true,
    interceptors: [bearer],
  }),
  "gRPC over HTTP/2": createGrpcTransport({ baseUrl, sessionManager: http2Session, interceptors: [bearer] }),
};

/**
 * The field paths of the google.rpc.BadRequest details of err. The SDK does
 * not ship googleapis types, so the two fields needed are read by hand:
 * BadRequest { repeated FieldViolation field_violations = 1; }
 * FieldViolation { string field = 1; string description = 2; }
 */
function violatedFields(err: ConnectError): string[] {
  const fields: string[] = [];
  for (const d of err.details) {
    if (!("type" in d) || d.type !== "google.rpc.BadRequest") continue;
    const r = new BinaryReader(d.value);
    while (r.pos < r.len) {
      const [no, wt] = r.tag();
      if (no !== 1) {
        r.skip(wt);
        continue;
      }
      const v = new BinaryReader(r.bytes());
      while (v.pos < v.len) {
        const [fno, fwt] = v.tag();
        if (fno === 1) fields.push(v.string());
        else v.skip(fwt);
      }
    }
  }
  return fields;
}

for (const [name, transport] of Object.entries(transports)) {
  describe(name, () => {
    const client: Client<typeof CatalogService> = createClient(CatalogService, transport);

    test("create, read, list, search and update a book", async () => {
      const word = tok(9);
      const { category } = await client.createCategory({ category: { name: `Node Category ${tok()}` } });
      const { publisher } = await client.createPublisher({ publisher: { name: `Node Publisher ${tok()}` } });
      const { author: first } = await client.createAuthor({ author: { name: `Node Author ${tok()}` } });
      const { author: second } = await client.createAuthor({ author: { name: `Node Author ${tok()}`, biography: "Writes." } });
      assert.ok(category && publisher && first && second);

      const isbn = randomIsbn();
      const { book } = await client.createBook({
        book: {
          title: `The ${word} Almanac`,
          description: "Made by the Node end-to-end test.",
          isbn: `${isbn.slice(0, 3)}-${isbn.slice(3, 4)}-${isbn.slice(4, 7)}-${isbn.slice(7, 12)}-${isbn.slice(12)}`,
          price: eur(1250),
          salePrice: eur(999),
          stockQuantity: 4,
          categoryId: category.id,
          publisherId: publisher.id,
          authorIds: [second.id, first.id],
          imageUrl: "https://covers.example.com/node.png",
        },
      });
      assert.ok(book);
      assert.equal(book.isbn, isbn, "ISBN comes back as digits only");
      assert.equal(book.availability, Availability.IN_STOCK);
      assert.deepEqual(book.authorNames, [second.name, first.name]);
      assert.equal(book.categoryName, category.name);
      assert.equal(book.publisherName, publisher.name);
      assert.equal(book.effectivePrice?.units, 9n);
      assert.equal(book.effectivePrice?.nanos, 990_000_000);
      assert.notEqual(book.etag, "");

      const got = await client.getBook({ id: book.id });
      assert.equal(got.book?.id, book.id);
      assert.equal(got.book?.title, book.title);
      assert.equal(got.book?.etag, book.etag);

      const batch = await client.batchGetBooks({ ids: [book.id, book.id] });
      assert.deepEqual(
        batch.books.map((b) => b.id),
        [book.id, book.id],
      );

      const listed = await client.listBooks({
        filter: { categoryIds: [category.id] },
        orderBy: BookOrderField.PRICE,
        pageSize: 10,
      });
      assert.deepEqual(
        listed.books.map((b) => b.id),
        [book.id],
      );
      assert.equal(listed.nextPageToken, "");

      const found = await client.searchBooks({ query: word.toLowerCase() });
      // The exact match ranks first; typo tolerance may add near matches of
      // other tests' random words below it.
      assert.ok(found.results.length >= 1, `search ${word} found nothing`);
      assert.equal(found.results[0].book?.id, book.id);
      assert.ok(found.results[0].relevance > 0);

      const { book: updated } = await client.updateBook({
        id: book.id,
        etag: book.etag,
        book: { title: `The ${word} Almanac, Second Edition`, stockQuantity: 0 },
        updateMask: { paths: ["title", "stock_quantity"] },
      });
      assert.equal(updated?.title, `The ${word} Almanac, Second Edition`);
      assert.equal(updated?.availability, Availability.OUT_OF_STOCK);
      assert.equal(updated?.description, book.description, "fields outside the mask are kept");

      await rejects(
        client.updateBook({ id: book.id, etag: book.etag, book: { stockQuantity: 1 }, updateMask: { paths: ["stock_quantity"] } }),
        Code.Aborted,
      );

      const authors = await client.listAuthors({ pageSize: 2 });
      assert.ok(authors.authors.length > 0 && authors.authors.length <= 2);
      await client.getAuthor({ id: first.id });
      await client.getCategory({ id: category.id });
      await client.getPublisher({ id: publisher.id });

      await client.deleteBook({ id: book.id });
      const deleted = await client.getBook({ id: book.id });
      assert.equal(deleted.book?.deleted, true);
    });

    test("invalid input is InvalidArgument with field violations", async () => {
      const err = await rejects(
        client.createBook({
          book: {
            title: "   ",
            price: eur(1000),
            stockQuantity: 1,
            categoryId: randomUUID(),
            publisherId: randomUUID(),
            authorIds: [randomUUID()],
          },
        }),
        Code.InvalidArgument,
      );
      assert.ok(violatedFields(err).includes("book.title"), `violations ${JSON.stringify(violatedFields(err))}`);

      const err2 = await rejects(client.searchBooks({ query: "" }), Code.InvalidArgument);
      assert.ok(violatedFields(err2).includes("query"), `violations ${JSON.stringify(violatedFields(err2))}`);

      const err3 = await rejects(client.getBook({ id: "not-a-uuid" }), Code.InvalidArgument);
      assert.ok(violatedFields(err3).includes("id"), `violations ${JSON.stringify(violatedFields(err3))}`);
    });

    test("unknown ids are NotFound", async () => {
      await rejects(client.getBook({ id: randomUUID() }), Code.NotFound);
      await rejects(client.deleteCategory({ id: randomUUID() }), Code.NotFound);
    });
  });
}
