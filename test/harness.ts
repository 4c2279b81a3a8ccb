// Integration harness: a real sandbox PSP (HTTP on loopback), a real paycore process
// (node dist/workers/main.js) against the shared NATS and Redis, and a gRPC client. The code lives
// in testing/stack.ts (the load benchmarks launch the same stack from compiled JS); tests import
// it from here.

export * from '../testing/stack';
export * from '../testing/deps';

import type * as grpc from '@grpc/grpc-js';
import { decodeServiceError } from '../core/errors';

/** How a call that must be refused was refused: its status, ErrorInfo reason and the fields
 * BadRequest names. Throws when the call succeeded. */
export async function refusal(call: Promise<unknown>): Promise<{ code: grpc.status; reason?: string; fields: string[] }> {
  try {
    await call;
  } catch (error) {
    const decoded = decodeServiceError(error as grpc.ServiceError);
    return { code: decoded.code, reason: decoded.reason, fields: decoded.violations.map((v) => v.field) };
  }
  throw new Error('the call succeeded');
}

/** `paycore_shards_held` on a process's /metrics (undefined while it does not answer): how many
 * command shards it holds the lease of (workers/leases.ts). */
export async function shardsHeld(http_port: number): Promise<number | undefined> {
  const text = await fetch(`http://127.0.0.1:${http_port}/metrics`).then((r) => r.text(), () => undefined);
  const line = text?.split('\n').find((l) => l.startsWith('paycore_shards_held '));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}
