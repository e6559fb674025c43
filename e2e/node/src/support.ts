// Helpers the Node end-to-end tests share (not a test file: node --test runs
// only *.test.js).
import assert from "node:assert/strict";
import { randomInt } from "node:crypto";

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { MoneySchema, type Money } from "@bookworm/sdk";

/** The value of the environment variable name; throws when it is unset or empty. */
export function mustEnv(name: string, example: string): string {
  const v = process.env[name] ?? "";
  if (v === "") {
    throw new Error(`${name} must be set, e.g. ${example} (go test ./e2e -run TestNode sets it)`);
  }
  return v;
}

/** An interceptor sending token as a bearer token on every call, unary or streaming. */
export function bearer(token: string): Interceptor {
  return (next) => async (req) => {
    if (token !== "") {
      req.header.set("Authorization", `Bearer ${token}`);
    }
    return next(req);
  };
}

/** A random upper-case token, unique enough for names in a shared catalog. */
export function tok(n = 10): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  let s = "";
  for (let i = 0; i < n; i++) s += alphabet[randomInt(alphabet.length)];
  return s;
}

/** A random ISBN-13 with a valid check digit, digits only. */
export function randomIsbn(): string {
  let d = "978";
  while (d.length < 12) d += String(randomInt(10));
  let sum = 0;
  for (let i = 0; i < 12; i++) sum += Number(d[i]) * (i % 2 === 1 ? 3 : 1);
  return d + String((10 - (sum % 10)) % 10);
}

/** cents euro cents as Money. */
export function eur(cents: number): Money {
  return create(MoneySchema, {
    currencyCode: "EUR",
    units: BigInt(Math.trunc(cents / 100)),
    nanos: (cents % 100) * 10_000_000,
  });
}

/** Awaits p and asserts that it fails with code; returns the error. */
export async function rejects(p: Promise<unknown>, code: Code): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    const err = ConnectError.from(e);
    assert.equal(err.code, code, `got ${Code[err.code]} (${err.rawMessage}), want ${Code[code]}`);
    return err;
  }
  assert.fail(`call succeeded, want ${Code[code]}`);
}
