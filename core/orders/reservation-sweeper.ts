// Reconciles the routing table's reservation markers with the event log. A marker is a
// channel's caps held for one attempt; the actor commits or releases it with the attempt's
// recorded outcome, but a process killed between the two (or a Redis call that failed) leaves
// it behind. The log decides: a marker no recorded attempt holds, or held by a failed or
// closed attempt, is released; one held by a paid attempt is committed; an open attempt's stays.

import type { Logger } from '../log';
import type { RoutingCache } from '../routing/cache';
import type { CapReservations } from '../routing/reservations';
import type { Loaded } from './store';

export interface SweeperDeps {
  channels: Pick<RoutingCache, 'listChannels'>;
  reservations: Pick<CapReservations, 'reservationMarkers' | 'release' | 'commit'>;
  store: { load(payment_id: string): Promise<Loaded | undefined> };
  log: Logger;
  /** Markers younger than this are left alone (in-flight creates and failovers). */
  grace_ms: number;
}

export interface SweepResult {
  released: number;
  committed: number;
  kept: number;
}

/** One pass over every channel's markers. Release and commit are idempotent in Redis, so two
 * processes sweeping at once do no harm. */
export async function sweepReservations(deps: SweeperDeps): Promise<SweepResult> {
  const result: SweepResult = { released: 0, committed: 0, kept: 0 };
  for (const channel of deps.channels.listChannels()) {
    for (const marker of await deps.reservations.reservationMarkers(channel.channel_id)) {
      if (marker.age_ms < deps.grace_ms) continue;
      const verdict = await verdictOf(deps, marker.reservation_id);
      const ref = { reservation_id: marker.reservation_id, channel_id: channel.channel_id };
      if (verdict === 'release') {
        await deps.reservations.release(ref);
        result.released += 1;
      } else if (verdict === 'commit') {
        await deps.reservations.commit(ref);
        result.committed += 1;
      } else {
        result.kept += 1;
      }
    }
  }
  if (result.released + result.committed > 0) deps.log.warn({ ...result }, 'reservation sweeper settled markers the actors left behind');
  return result;
}

/** What the log says about a reservation (its id is `<payment_id>.<random>`). */
async function verdictOf(deps: SweeperDeps, reservation_id: string): Promise<'release' | 'commit' | 'keep'> {
  const payment_id = reservation_id.slice(0, reservation_id.indexOf('.'));
  if (payment_id === '') return 'keep'; // not one of ours: leave it to its TTL
  const state = (await deps.store.load(payment_id))?.state;
  const attempt = state?.attempts.find((a) => a.reservation?.reservation_id === reservation_id);
  if (attempt === undefined) return 'release';
  if (attempt.state === 'succeeded') return 'commit';
  if (attempt.state === 'failed' || attempt.state === 'closed') return 'release';
  return 'keep';
}
