// The sweeper's verdicts from the log, with stand-ins for Redis and the log (pure).

import { createLogger } from '../log';
import { sweepReservations } from './reservation-sweeper';
import type { Loaded } from './store';
import type { AttemptState, PaymentState } from './types';

function loaded(attempts: { reservation_id: string; state: AttemptState }[]): Loaded {
  const state = { attempts: attempts.map((a, i) => ({ attempt_id: `p1a${i + 1}`, attempt_no: i + 1, channel_id: 'c1', state: a.state, reservation: { reservation_id: a.reservation_id, channel_id: 'c1' } })) } as unknown as PaymentState;
  return { state, seq: 1 };
}

test('reservation sweeper - releases what no attempt holds or a failed / closed one held, commits a paid one, keeps open ones and young markers', async () => {
  const released: string[] = [];
  const committed: string[] = [];
  const markers = [
    { reservation_id: 'p1.a', age_ms: 10_000 }, // failed attempt
    { reservation_id: 'p1.b', age_ms: 10_000 }, // paid attempt
    { reservation_id: 'p1.c', age_ms: 10_000 }, // open attempt
    { reservation_id: 'p1.d', age_ms: 10_000 }, // no attempt holds it
    { reservation_id: 'p2.e', age_ms: 10_000 }, // no such payment
    { reservation_id: 'p1.f', age_ms: 10_000 }, // closed attempt
    { reservation_id: 'p3.g', age_ms: 10 }, // too young: in flight
  ];
  const table = {
    listChannels: () => [{ channel_id: 'c1' }],
    reservationMarkers: async () => markers,
    release: async (r: { reservation_id: string }) => (released.push(r.reservation_id), true),
    commit: async (r: { reservation_id: string }) => (committed.push(r.reservation_id), true),
  };
  const logs: Record<string, Loaded> = {
    p1: loaded([{ reservation_id: 'p1.a', state: 'failed' }, { reservation_id: 'p1.b', state: 'succeeded' }, { reservation_id: 'p1.c', state: 'pending' }, { reservation_id: 'p1.f', state: 'closed' }]),
  };
  const result = await sweepReservations({ channels: table as never, reservations: table as never, store: { load: async (id) => logs[id] }, log: createLogger('silent'), grace_ms: 1_000 });
  expect(released.sort()).toEqual(['p1.a', 'p1.d', 'p1.f', 'p2.e']);
  expect(committed).toEqual(['p1.b']);
  expect(result).toEqual({ released: 4, committed: 1, kept: 1 });
});
