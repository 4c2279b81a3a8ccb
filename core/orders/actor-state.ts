// What the mailbox keeps of one order between turns, and the small helpers every part of a turn
// shares (core/orders/actor.ts runs the turns; docs/architecture.md §3).

import { PaycoreError } from '../errors';
import type { Loaded } from './store';
import type { PaymentState } from './types';

/** One payment's actor: its cached log position and its mailbox. Only the turn running in the
 * mailbox reads or writes `loaded` and `fresh`. */
export class Actor {
  loaded: Loaded | undefined;
  /** Whether `loaded` reflects the stream (false until the first load). */
  fresh = false;
  queued = 0;
  /** The shard's lease epoch `loaded` was read under (ActorDeps.owner). */
  epoch = 0;
  tail: Promise<unknown> = Promise.resolve();

  constructor(readonly payment_id: string) {}
}

export function requireState(actor: Actor): PaymentState {
  const state = actor.loaded?.state;
  if (state === undefined) throw new PaycoreError('NOT_FOUND', `no payment ${actor.payment_id}`);
  return state;
}

/** An error for the log: its class and message, never a stack or a payload. */
export function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
