// The app-key scheme, for callers that cannot present a client certificate (docs/security.md).
// Each request carries, in gRPC metadata:
//   x-paycore-app-id     the app
//   x-paycore-key-id     which of its keys signed (current or previous during a rotation)
//   x-paycore-timestamp  Unix time in milliseconds; accepted within ±5 min of the gateway's clock
//   x-paycore-nonce      16 to 64 characters of [A-Za-z0-9_-], never reused within 10 min
//   x-paycore-signature  lower-case hex HMAC-SHA256(secret, canonical string)
// The canonical string is these lines joined by '\n':
//   PAYCORE-HMAC-SHA256, method path (/paycore.v1.PaymentService/CreatePayment), app id,
//   key id, timestamp, nonce, lower-case hex SHA-256 of the serialized request message (of
//   zero bytes for methods whose requests stream).
// The body hash binds the signature to exactly the bytes sent: a captured signature cannot be
// moved to another request, another method or another moment.

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';

const app_key_scheme = 'PAYCORE-HMAC-SHA256';
export const app_key_headers = {
  app_id: 'x-paycore-app-id',
  key_id: 'x-paycore-key-id',
  timestamp: 'x-paycore-timestamp',
  nonce: 'x-paycore-nonce',
  signature: 'x-paycore-signature',
} as const;

export const nonce_pattern = /^[A-Za-z0-9_-]{16,64}$/;

export interface AppKeyCredentials {
  app_id: string;
  key_id: string;
  secret: string;
}

export interface SignedFields {
  app_id: string;
  key_id: string;
  timestamp_ms: number;
  nonce: string;
}

export function bodyDigest(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}

export function canonicalString(method_path: string, fields: SignedFields, body_digest: string): string {
  return [app_key_scheme, method_path, fields.app_id, fields.key_id, String(fields.timestamp_ms), fields.nonce, body_digest].join('\n');
}

export function signature(secret: string, canonical: string): string {
  return createHmac('sha256', secret).update(canonical, 'utf8').digest('hex');
}

/** Constant-time comparison of two hex signatures. */
export function signaturesMatch(expected: string, given: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(given, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Adds the five headers to `metadata` for one request. */
export function signRequest(metadata: grpc.Metadata, key: AppKeyCredentials, method_path: string, body: Uint8Array, now_ms = Date.now()): void {
  const fields: SignedFields = { app_id: key.app_id, key_id: key.key_id, timestamp_ms: now_ms, nonce: randomBytes(16).toString('base64url') };
  metadata.set(app_key_headers.app_id, fields.app_id);
  metadata.set(app_key_headers.key_id, fields.key_id);
  metadata.set(app_key_headers.timestamp, String(fields.timestamp_ms));
  metadata.set(app_key_headers.nonce, fields.nonce);
  metadata.set(app_key_headers.signature, signature(key.secret, canonicalString(method_path, fields, bodyDigest(body))));
}
