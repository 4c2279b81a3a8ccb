// The caller-facing error vocabulary of paycore (docs/api.md, "Errors") and its two wire forms:
// a gRPC status with google.rpc details for clients, and JSON for replies that cross NATS.
//
// Two kinds of failure, never mixed (TigerBeetle): a PaycoreError is the caller's mistake or
// an expected condition, typed and returned; `assert` is our own broken invariant and fails
// loudly, never caught to be turned into a reply.

import * as grpc from '@grpc/grpc-js';
import { Any } from '../proto/gen/google/protobuf/any';
import { BadRequest, ErrorInfo } from '../proto/gen/google/rpc/error_details';
import { Status } from '../proto/gen/google/rpc/status';

export type ErrorReason =
  | 'INVALID_FIELD'
  | 'IDEMPOTENCY_KEY_REUSED'
  | 'NO_ROUTE'
  | 'RISK_BLOCKED'
  | 'ILLEGAL_STATE'
  | 'REFUND_EXCEEDS_PAID'
  | 'INSUFFICIENT_BALANCE'
  | 'NOT_FOUND'
  | 'FORBIDDEN'
  | 'UNAUTHENTICATED'
  | 'OVERLOADED'
  | 'DEPENDENCY_DOWN'
  | 'INTERNAL'
  | 'DEADLINE_EXCEEDED';

/** The gRPC status each reason travels under (docs/api.md, Errors table). */
export const grpcStatusOfReason: Readonly<Record<ErrorReason, grpc.status>> = Object.freeze({
  INVALID_FIELD: grpc.status.INVALID_ARGUMENT,
  IDEMPOTENCY_KEY_REUSED: grpc.status.FAILED_PRECONDITION,
  NO_ROUTE: grpc.status.FAILED_PRECONDITION,
  RISK_BLOCKED: grpc.status.FAILED_PRECONDITION,
  ILLEGAL_STATE: grpc.status.FAILED_PRECONDITION,
  REFUND_EXCEEDS_PAID: grpc.status.FAILED_PRECONDITION,
  INSUFFICIENT_BALANCE: grpc.status.FAILED_PRECONDITION,
  NOT_FOUND: grpc.status.NOT_FOUND,
  FORBIDDEN: grpc.status.PERMISSION_DENIED,
  UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
  OVERLOADED: grpc.status.RESOURCE_EXHAUSTED,
  DEPENDENCY_DOWN: grpc.status.UNAVAILABLE,
  INTERNAL: grpc.status.INTERNAL,
  DEADLINE_EXCEEDED: grpc.status.DEADLINE_EXCEEDED,
});

export function isErrorReason(value: unknown): value is ErrorReason {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(grpcStatusOfReason, value);
}

const error_domain = 'paycore.v1';
export const error_info_type_url = 'type.googleapis.com/google.rpc.ErrorInfo';
export const bad_request_type_url = 'type.googleapis.com/google.rpc.BadRequest';
const status_details_metadata_key = 'grpc-status-details-bin';

// The status message is repeated in grpc-message and inside grpc-status-details-bin, and
// common clients cap response headers at 8–16 KiB: the message summarises at most this many
// violations (BadRequest still names every one).
const message_violations_max = 10;

export interface FieldViolation {
  /** Proto snake_case path, e.g. `payer.auth_code`, `route_hints.include_channels[2]`. */
  field: string;
  /** Plain English naming the rule; never echoes a payer element's value. */
  description: string;
}

export class PaycoreError extends Error {
  readonly reason: ErrorReason;
  /** The message without its `REASON: ` prefix. */
  readonly detail: string;
  readonly violations: FieldViolation[];
  readonly metadata: Record<string, string>;

  constructor(
    reason: ErrorReason,
    detail: string,
    violations: FieldViolation[] = [],
    metadata: Record<string, string> = {},
  ) {
    super(detail === '' ? reason : `${reason}: ${detail}`);
    this.name = 'PaycoreError';
    this.reason = reason;
    this.detail = detail;
    this.violations = violations;
    this.metadata = metadata;
  }
}

/** The INVALID_FIELD error for a validator's output: its message lists the bad fields. */
export function invalidFields(violations: FieldViolation[]): PaycoreError {
  assert(violations.length > 0, 'invalidFields needs at least one violation');
  const shown = violations.slice(0, message_violations_max).map((v) => `${v.field} ${v.description}`);
  const hidden_count = violations.length - shown.length;
  if (hidden_count > 0) shown.push(`and ${hidden_count} more (see BadRequest)`);
  return new PaycoreError('INVALID_FIELD', shown.join('; '), violations);
}

/** The status a grpc-js handler passes to its callback (or `call.destroy`/`emit('error')`). */
export function toServiceError(err: PaycoreError): Partial<grpc.StatusObject> {
  const code = grpcStatusOfReason[err.reason];
  const details: Any[] = [
    {
      typeUrl: error_info_type_url,
      value: Buffer.from(
        ErrorInfo.encode({ reason: err.reason, domain: error_domain, metadata: err.metadata }).finish(),
      ),
    },
  ];
  if (err.violations.length > 0) {
    details.push({
      typeUrl: bad_request_type_url,
      value: Buffer.from(BadRequest.encode({ fieldViolations: err.violations }).finish()),
    });
  }
  const metadata = new grpc.Metadata();
  metadata.set(
    status_details_metadata_key,
    Buffer.from(Status.encode({ code, message: err.message, details }).finish()),
  );
  return { code, details: err.message, metadata };
}

export interface DecodedServiceError {
  code: number;
  /** ErrorInfo.reason when the server sent one (paycore always does). */
  reason?: string;
  message: string;
  violations: FieldViolation[];
  metadata: Record<string, string>;
}

/** Reads a ServiceError a client received back into reason, violations and metadata. */
export function decodeServiceError(err: grpc.ServiceError): DecodedServiceError {
  const decoded: DecodedServiceError = {
    code: err.code,
    message: err.details ?? err.message,
    violations: [],
    metadata: {},
  };
  const status = decodeStatusTrailer(err.metadata);
  if (status === undefined) return decoded;
  if (status.message !== '') decoded.message = status.message;
  for (const detail of status.details) {
    if (detail.typeUrl === error_info_type_url) {
      const info = ErrorInfo.decode(detail.value);
      decoded.reason = info.reason;
      decoded.metadata = info.metadata;
    } else if (detail.typeUrl === bad_request_type_url) {
      const bad_request = BadRequest.decode(detail.value);
      for (const v of bad_request.fieldViolations) {
        decoded.violations.push({ field: v.field, description: v.description });
      }
    }
  }
  return decoded;
}

function decodeStatusTrailer(metadata: grpc.Metadata | undefined): Status | undefined {
  // A ServiceError built by hand (or by a proxy) may carry no metadata at all.
  const values = metadata?.get(status_details_metadata_key) ?? [];
  const value = values[0];
  if (value === undefined || typeof value === 'string') return undefined;
  try {
    return Status.decode(value);
  } catch {
    // A malformed trailer from something in the path: keep code and message.
    return undefined;
  }
}

/** A PaycoreError as JSON, for replies between gateway and order actors over NATS. */
export interface WireError {
  reason: ErrorReason;
  message: string;
  violations?: FieldViolation[];
  metadata?: Record<string, string>;
}

export function errorToWire(e: PaycoreError): WireError {
  const wire: WireError = { reason: e.reason, message: e.message };
  if (e.violations.length > 0) wire.violations = e.violations.map((v) => ({ ...v }));
  if (Object.keys(e.metadata).length > 0) wire.metadata = { ...e.metadata };
  return wire;
}

export function errorFromWire(w: WireError): PaycoreError {
  // The peer may run another version: an unknown reason is our fault, not the caller's.
  if (!isErrorReason(w.reason)) {
    return new PaycoreError('INTERNAL', `peer replied with unknown reason ${JSON.stringify(w.reason)}`);
  }
  const prefix = `${w.reason}: `;
  const message = String(w.message ?? '');
  let detail = message;
  if (message.startsWith(prefix)) detail = message.slice(prefix.length);
  else if (message === w.reason) detail = '';
  return new PaycoreError(
    w.reason,
    detail,
    (w.violations ?? []).map((v) => ({ field: String(v.field), description: String(v.description) })),
    { ...(w.metadata ?? {}) },
  );
}

/** For our own invariants only: a failure is a bug, never a reply to a caller's input. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) {
    const error = new Error(message);
    error.name = 'AssertionError';
    throw error;
  }
}

/** The dependencies whose outage a caller sees as DEPENDENCY_DOWN. */
export type Dependency = 'NATS' | 'Redis' | 'PostgreSQL';

const dependency_roles: Readonly<Record<Dependency, string>> = {
  NATS: 'the event log and command bus (NATS JetStream)',
  Redis: 'the routing table (Redis)',
  PostgreSQL: 'the books (PostgreSQL)',
};

/** A failure of a dependency call as the caller sees it: UNAVAILABLE, reason DEPENDENCY_DOWN,
 * retryable with the same key, and without the client library's text (which names hosts and
 * internals); the original error stays on `cause` for the log. Our own errors and broken
 * invariants pass through unchanged. */
export function dependencyFailure(error: unknown, dependency: Dependency): unknown {
  if (error instanceof PaycoreError) return error;
  if (error instanceof Error && error.name === 'AssertionError') return error;
  return Object.assign(new PaycoreError('DEPENDENCY_DOWN', `${dependency_roles[dependency]} did not answer; retry with the same key`), { cause: error });
}

/** DEPENDENCY_DOWN before a call is even tried: the dependency is known to be unreachable. */
export function dependencyDown(dependency: Dependency): PaycoreError {
  return new PaycoreError('DEPENDENCY_DOWN', `${dependency_roles[dependency]} is unreachable from this instance; retry with the same key`);
}
