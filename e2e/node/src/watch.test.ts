// End-to-end test of WatchOrder from the TypeScript SDK over the transports a
// browser uses (@connectrpc/connect-web over fetch: the Connect protocol, JSON
// and binary, and gRPC-Web), across two replicas of one deployment: orders
// are placed and moved on replica A, watched on replica B. `go test ./e2e
// -run TestNode` starts both replicas (on a database of their own) and sets:
//
//   BOOKWORM_REPLICA_A_URL, BOOKWORM_REPLICA_B_URL   the replicas
//   BOOKWORM_REPLICA_B_METRICS_URL                   B's Prometheus endpoint
//   BOOKWORM_TOKEN                                   an admin's token
//   BOOKWORM_BUYER_TOKENS                            comma-separated tokens of distinct users
//   BOOKWORM_STRANGER_TOKEN                          a user who buys nothing
//   BOOKWORM_CORS_ORIGIN                             an origin the replicas allow
//
// WatchOrder coalesces: a watcher gets the newest state, not necessarily each
// one between, so the assertions are "in order, never back, ends final", and
// that a change made after the watcher saw a state reaches it.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";

import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import {
  BasketService,
  CatalogService,
  OrderingService,
  OrderStatus,
  type Order,
  type WatchOrderResponse,
} from "@bookworm/sdk";

import { bearer, eur, mustEnv, randomIsbn, rejects, tok } from "./support.js";

const replicaA = mustEnv("BOOKWORM_REPLICA_A_URL", "http://127.0.0.1:8080");
const replicaB = mustEnv("BOOKWORM_REPLICA_B_URL", "http://127.0.0.1:8081");
const metricsB = mustEnv("BOOKWORM_REPLICA_B_METRICS_URL", "http://127.0.0.1:9465/metrics");
const adminToken = mustEnv("BOOKWORM_TOKEN", "an admin's bearer token");
const buyerTokens = mustEnv("BOOKWORM_BUYER_TOKENS", "token1,token2").split(",");
const strangerToken = mustEnv("BOOKWORM_STRANGER_TOKEN", "a user's bearer token");
const origin = mustEnv("BOOKWORM_CORS_ORIGIN", "https://shop.example");

/** A bound on each stream, far above what the saga takes: never an assertion about speed. */
const streamTimeoutMs = 90_000;

const watchProcedure = "/bookworm.ordering.v1.OrderingService/WatchOrder";

/**
 * Does what a browser page on origin does to every request (sends Origin)
 * and checks what the browser would check before letting the page read the
 * answer (Access-Control-Allow-Origin; for gRPC-Web, the status headers
 * exposed). It records the request headers, for the preflight test.
 */
function browser(kind: "connect" | "grpc-web", sent: Set<string>): Interceptor {
  return (next) => async (req) => {
    req.header.set("Origin", origin);
    const res = await next(req);
    // The interceptors inside this one (the bearer token) and the transport have set theirs now.
    for (const k of req.header.keys()) sent.add(k.toLowerCase());
    assert.equal(res.header.get("Access-Control-Allow-Origin"), origin, `${req.url}: no CORS answer for ${origin}`);
    if (kind === "grpc-web") {
      const exposed = (res.header.get("Access-Control-Expose-Headers") ?? "").toLowerCase();
      for (const h of ["grpc-status", "grpc-message"]) {
        assert.ok(exposed.includes(h), `Access-Control-Expose-Headers ${JSON.stringify(exposed)} lacks ${h}`);
      }
    }
    return res;
  };
}

interface Flavour {
  kind: "connect" | "grpc-web";
  make(baseUrl: string, interceptors: Interceptor[]): Transport;
}

const flavours: Record<string, Flavour> = {
  "Connect JSON over fetch (connect-web)": {
    kind: "connect",
    make: (baseUrl, interceptors) => createConnectTransport({ baseUrl, interceptors }),
  },
  "Connect binary over fetch (connect-web)": {
    kind: "connect",
    make: (baseUrl, interceptors) => createConnectTransport({ baseUrl, useBinaryFormat: true, interceptors }),
  },
  "gRPC-Web over fetch (connect-web)": {
    kind: "grpc-web",
    make: (baseUrl, interceptors) => createGrpcWebTransport({ baseUrl, interceptors }),
  },
};

let nextBuyer = 0;
/** A token of a user no other case uses: each order needs a basket of its own. */
function buyerToken(): string {
  assert.ok(nextBuyer < buyerTokens.length, `BOOKWORM_BUYER_TOKENS has only ${buyerTokens.length} tokens`);
  return buyerTokens[nextBuyer++];
}

const address = {
  name: "Ada Lovelace",
  lines: ["12 Analytical Way"],
  city: "London",
  postalCode: "N1 7GU",
  countryCode: "GB",
};

/** The book every order of this file buys, created on replica A. */
let bookId = "";

before(async () => {
  const catalog = createClient(CatalogService, createConnectTransport({ baseUrl: replicaA, interceptors: [bearer(adminToken)] }));
  const { category } = await catalog.createCategory({ category: { name: `Watch Category ${tok()}` } });
  const { publisher } = await catalog.createPublisher({ publisher: { name: `Watch Publisher ${tok()}` } });
  const { author } = await catalog.createAuthor({ author: { name: `Watch Author ${tok()}` } });
  assert.ok(category && publisher && author);
  const { book } = await catalog.createBook({
    book: {
      title: `Watching ${tok(8)}`,
      isbn: randomIsbn(),
      price: eur(1250),
      stockQuantity: 1000,
      categoryId: category.id,
      publisherId: publisher.id,
      authorIds: [author.id],
    },
  });
  assert.ok(book);
  bookId = book.id;
});

/** The clients of one user on both replicas, over one flavour of transport. */
function user(f: Flavour, token: string, sent: Set<string>) {
  const interceptors = [browser(f.kind, sent), bearer(token)];
  const a = f.make(replicaA, interceptors);
  const b = f.make(replicaB, interceptors);
  return {
    basketA: createClient(BasketService, a),
    orderingA: createClient(OrderingService, a),
    orderingB: createClient(OrderingService, b),
  };
}

/** Places an order of one copy of the book on replica A; the order comes back PENDING. */
async function placeOnA(f: Flavour, token: string, sent: Set<string>, paymentMethodToken = "tok_success"): Promise<Order> {
  const u = user(f, token, sent);
  await u.basketA.addItem({ bookId, quantity: 1, requestId: randomUUID() });
  const { order } = await u.orderingA.placeOrder({ requestId: randomUUID(), shippingAddress: address, paymentMethodToken });
  assert.ok(order);
  assert.equal(order.status, OrderStatus.PENDING);
  return order;
}

/** The statuses of the order's successful life, in order. */
const lifecycle = [OrderStatus.PENDING, OrderStatus.STOCK_RESERVED, OrderStatus.CONFIRMED, OrderStatus.SHIPPED, OrderStatus.COMPLETED];

function names(ss: OrderStatus[]): string[] {
  return ss.map((s) => OrderStatus[s]);
}

/** Checks a keep-alive: it carries the time the server sent it. */
function checkKeepAlive(m: WatchOrderResponse): void {
  assert.equal(m.event.case, "keepAlive");
  const sent = m.event.value?.sendTime;
  assert.ok(sent, "a keep-alive without send_time");
  const skew = Math.abs(timestampDate(sent).getTime() - Date.now());
  assert.ok(skew < 60_000, `keep-alive sent at ${timestampDate(sent).toISOString()}, ${skew} ms from now`);
}

/** The WatchOrder calls B has finished, by Connect code ("ok", "not_found", ...). */
async function watchOutcomes(): Promise<Map<string, number>> {
  const res = await fetch(metricsB);
  assert.equal(res.status, 200, `GET ${metricsB}: ${res.status}`);
  const text = await res.text();
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line.startsWith("bookworm_rpc_requests_total{") || !line.includes(`procedure="${watchProcedure}"`)) continue;
    const code = /code="([^"]*)"/.exec(line)?.[1] ?? "";
    out.set(code, Number(line.slice(line.lastIndexOf(" ") + 1)));
  }
  return out;
}

function diff(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const d: Record<string, number> = {};
  for (const [code, n] of after) {
    const delta = n - (before.get(code) ?? 0);
    if (delta !== 0) d[code] = delta;
  }
  return d;
}

/** Polls B's metrics until the WatchOrder calls finished since before differ from it; returns the difference. */
async function finishedSince(before: Map<string, number>): Promise<Record<string, number>> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const d = diff(before, await watchOutcomes());
    if (Object.keys(d).length > 0 || Date.now() > deadline) return d;
    await new Promise((r) => setTimeout(r, 100));
  }
}

for (const [name, f] of Object.entries(flavours)) {
  describe(`WatchOrder across replicas, ${name}`, () => {
    const sent = new Set<string>();

    test("a watcher on B sees the order placed and moved on A, in order, until it is final", async () => {
      const token = buyerToken();
      const placed = await placeOnA(f, token, sent);
      const u = user(f, token, sent);
      const admin = user(f, adminToken, sent);

      const seen: Order[] = [];
      let keepAlives = 0;
      let confirmedAt = -1; // keep-alives seen when CONFIRMED came
      let shipped = false;
      for await (const m of u.orderingB.watchOrder({ id: placed.id }, { timeoutMs: streamTimeoutMs })) {
        if (m.event.case === "keepAlive") {
          checkKeepAlive(m);
          keepAlives++;
          // A keep-alive after CONFIRMED: the stream was quiet; now A ships.
          if (confirmedAt >= 0 && keepAlives > confirmedAt && !shipped) {
            shipped = true;
            await admin.orderingA.shipOrder({ id: placed.id, trackingNumber: `TRACK-${tok(6)}` });
          }
          continue;
        }
        assert.equal(m.event.case, "order", "a message that is neither an order nor a keep-alive");
        const o = m.event.value;
        assert.equal(o.id, placed.id);
        const prev = seen.at(-1);
        if (prev) {
          assert.ok(o.version > prev.version, `version ${o.version} after ${prev.version}`);
          assert.ok(
            lifecycle.indexOf(o.status) > lifecycle.indexOf(prev.status),
            `${OrderStatus[o.status]} after ${OrderStatus[prev.status]}`,
          );
        }
        assert.ok(lifecycle.includes(o.status), `status ${OrderStatus[o.status]} is off the successful path`);
        seen.push(o);
        if (o.status === OrderStatus.CONFIRMED) {
          confirmedAt = keepAlives;
        } else if (o.status === OrderStatus.SHIPPED) {
          await admin.orderingA.completeOrder({ id: placed.id });
        }
      }
      // The loop ended without an error: the server closed the stream cleanly.
      const statuses = seen.map((o) => o.status);
      assert.equal(statuses.at(-1), OrderStatus.COMPLETED, `the watch ended at ${names(statuses)}`);
      // The changes A made after B showed CONFIRMED all reached the watcher.
      assert.deepEqual(names(statuses.slice(-3)), ["CONFIRMED", "SHIPPED", "COMPLETED"]);
      assert.ok(keepAlives >= 1, "no keep-alive while the order sat CONFIRMED");

      // Every state the watcher saw is one the history recorded, same version.
      const { entries } = await u.orderingA.getOrderHistory({ id: placed.id });
      assert.deepEqual(
        names(entries.map((e) => e.toStatus)),
        names(lifecycle),
        "history of a successful order",
      );
      for (const o of seen) {
        const e = entries.find((e) => e.version === o.version);
        assert.ok(e, `version ${o.version} is not in the history`);
        assert.equal(e.toStatus, o.status, `version ${o.version}`);
      }
    });

    test("aborting mid-stream ends the stream on both sides, without an error on the server", async () => {
      const token = buyerToken();
      const placed = await placeOnA(f, token, sent);
      const u = user(f, token, sent);
      const finished = await watchOutcomes();
      const ac = new AbortController();
      let orders = 0;
      let keepAlives = 0;
      const err = await rejects(
        (async () => {
          for await (const m of u.orderingB.watchOrder({ id: placed.id }, { signal: ac.signal, timeoutMs: streamTimeoutMs })) {
            if (m.event.case === "order") orders++;
            if (m.event.case === "keepAlive") {
              keepAlives++;
              // The order is shown and the stream is idle and open: the user leaves the page.
              ac.abort();
            }
          }
        })(),
        Code.Canceled,
      );
      assert.ok(orders >= 1 && keepAlives === 1, `${orders} orders, ${keepAlives} keep-alives before the abort (${err.rawMessage})`);
      // B's handler returned, and with no error: its metrics count the call
      // once, "ok" (a client that leaves is no error; an unexpected one would
      // be "unknown" or "internal", and logged at ERROR, which the Go side
      // checks in B's log).
      assert.deepEqual(await finishedSince(finished), { ok: 1 });

      // Aborting at the first message (the order, shown at once) ends it
      // the same way, and the replica still serves the order. (Leaving the
      // loop with break alone does not end the call on the wire with
      // connect-web 2.2 over fetch: the server keeps the stream open, so a
      // page always aborts.)
      const again = await watchOutcomes();
      const ac2 = new AbortController();
      await rejects(
        (async () => {
          for await (const m of u.orderingB.watchOrder({ id: placed.id }, { signal: ac2.signal, timeoutMs: streamTimeoutMs })) {
            assert.equal(m.event.case, "order");
            assert.equal(m.event.value?.id, placed.id);
            ac2.abort();
          }
        })(),
        Code.Canceled,
      );
      assert.deepEqual(await finishedSince(again), { ok: 1 });
    });

    test("another user's order is NotFound, the same as a missing one", async () => {
      const placed = await placeOnA(f, buyerToken(), sent);
      const stranger = user(f, strangerToken, sent);
      const watch = async (id: string) => {
        for await (const _ of stranger.orderingB.watchOrder({ id }, { timeoutMs: streamTimeoutMs })) {
          assert.fail("a message of another user's order");
        }
      };
      const theirs = await rejects(watch(placed.id), Code.NotFound);
      const missingId = randomUUID();
      const missing = await rejects(watch(missingId), Code.NotFound);
      assert.equal(
        theirs.rawMessage.replaceAll(placed.id, "<id>"),
        missing.rawMessage.replaceAll(missingId, "<id>"),
        "another user's order must look exactly like a missing one",
      );
      await rejects(stranger.orderingA.getOrder({ id: placed.id }), Code.NotFound);
    });

    test("a browser's preflight for these calls is allowed", async () => {
      // What the browser asks before each call above: every request header
      // the transport set that is not CORS-safelisted.
      const safelisted = new Set(["accept", "accept-language", "content-language", "origin"]);
      const requested = [...sent].filter((h) => !safelisted.has(h)).sort();
      assert.ok(requested.includes("authorization") && requested.includes("content-type"), `headers sent: ${requested}`);
      for (const base of [replicaA, replicaB]) {
        const res = await fetch(`${base}${watchProcedure}`, {
          method: "OPTIONS",
          headers: {
            Origin: origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": requested.join(","),
          },
        });
        assert.ok(res.status >= 200 && res.status < 300, `preflight: ${res.status}`);
        assert.equal(res.headers.get("Access-Control-Allow-Origin"), origin);
        const allowed = (res.headers.get("Access-Control-Allow-Headers") ?? "").toLowerCase();
        for (const h of requested) {
          assert.ok(allowed.includes(h), `Access-Control-Allow-Headers ${JSON.stringify(allowed)} lacks ${h}`);
        }
      }
    });
  });
}
