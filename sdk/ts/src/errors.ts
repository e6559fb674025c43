// Reading the details of BookWorm's errors. The server explains an
// INVALID_ARGUMENT with a google.rpc.BadRequest (one field violation per bad
// field, the field named by its path, e.g. "book.title") and a
// RESOURCE_EXHAUSTED from its rate limiter with a google.rpc.RetryInfo (the
// delay after which the call would succeed).
import { ConnectError } from "@connectrpc/connect";

import { BadRequestSchema, RetryInfoSchema } from "./gen/google/rpc/error_details_pb.js";

export {
  BadRequestSchema,
  BadRequest_FieldViolationSchema,
  ErrorInfoSchema,
  PreconditionFailureSchema,
  QuotaFailureSchema,
  RetryInfoSchema,
  type BadRequest,
  type BadRequest_FieldViolation,
  type ErrorInfo,
  type PreconditionFailure,
  type QuotaFailure,
  type RetryInfo,
} from "./gen/google/rpc/error_details_pb.js";

/** FieldViolation is one bad field of a request: its path and why. */
export interface FieldViolation {
  /** The field's path in the request, e.g. "book.title" or "review.stars". */
  field: string;
  /** Why the value was refused, in English. */
  description: string;
}

/**
 * fieldViolations returns the field violations of the google.rpc.BadRequest
 * details of err (a ConnectError, or anything a client call threw), in the
 * order the server gave them; an empty array when there are none.
 */
export function fieldViolations(err: unknown): FieldViolation[] {
  const ce = ConnectError.from(err);
  return ce
    .findDetails(BadRequestSchema)
    .flatMap((br) => br.fieldViolations.map((v) => ({ field: v.field, description: v.description })));
}

/**
 * retryDelayMs returns the delay, in milliseconds, after which the server
 * said err's call would succeed (its google.rpc.RetryInfo), or undefined
 * when it gave none. Wait that long before sending the call again.
 */
export function retryDelayMs(err: unknown): number | undefined {
  const ce = ConnectError.from(err);
  for (const info of ce.findDetails(RetryInfoSchema)) {
    const d = info.retryDelay;
    if (d !== undefined) {
      return Number(d.seconds) * 1000 + Math.ceil(d.nanos / 1e6);
    }
  }
  return undefined;
}
