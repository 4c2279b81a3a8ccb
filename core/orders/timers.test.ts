// nextQueryAt: the pending-attempt query schedule (docs/architecture.md §3).

import { query_backoff_ms_default } from '../constants';
import { nextQueryAt } from './timers';

const now = new Date('2025-03-01T08:00:00.000Z');
const backoff_ms = [5_000, 15_000, 30_000] as const;
const expires_at = '2025-03-01T09:00:00.000Z';
const plus = (date: Date, ms: number): Date => new Date(date.getTime() + ms);

describe('timers', () => {
  test.each([
    [0, 5_000],
    [1, 15_000],
    [2, 30_000],
  ])('timers - nextQueryAt after round %i is %i ms later', (round, delay) => {
    expect(nextQueryAt(now, round, backoff_ms, expires_at)).toEqual(plus(now, delay));
  });

  test.each([3, 4, 10, 1_000])('timers - nextQueryAt repeats the last step in round %i', (round) => {
    expect(nextQueryAt(now, round, backoff_ms, expires_at)).toEqual(plus(now, 30_000));
  });

  test('timers - the default schedule is 5 s, 15 s, 30 s, 1 min, 5 min, then every 30 min', () => {
    const delays = [0, 1, 2, 3, 4, 5, 6, 7].map((round) => nextQueryAt(now, round, query_backoff_ms_default, '2025-03-02T08:00:00.000Z')!.getTime() - now.getTime());
    expect(delays).toEqual([5_000, 15_000, 30_000, 60_000, 300_000, 1_800_000, 1_800_000, 1_800_000]);
  });

  test('timers - one query falls after expiry, within one step of it', () => {
    const just_before = plus(new Date(expires_at), -1_000);
    expect(nextQueryAt(just_before, 2, backoff_ms, expires_at)).toEqual(plus(just_before, 30_000));
    const at_expiry = new Date(expires_at);
    expect(nextQueryAt(at_expiry, 0, backoff_ms, expires_at)).toEqual(plus(at_expiry, 5_000));
  });

  test('timers - nextQueryAt is undefined once past expires_at + one step', () => {
    const past = plus(new Date(expires_at), 1);
    expect(nextQueryAt(past, 0, backoff_ms, expires_at)).toBeUndefined();
    expect(nextQueryAt(past, 5, backoff_ms, expires_at)).toBeUndefined();
    expect(nextQueryAt(plus(new Date(expires_at), 3_600_000), 1, backoff_ms, expires_at)).toBeUndefined();
  });

  test('timers - the step measured against expiry is the round\'s own step', () => {
    // 10 s after expiry: a 5 s step lands 15 s past it (> 5 s), a 30 s step 40 s past it (> 30 s).
    const after = plus(new Date(expires_at), 10_000);
    expect(nextQueryAt(after, 0, backoff_ms, expires_at)).toBeUndefined();
    expect(nextQueryAt(after, 2, backoff_ms, expires_at)).toBeUndefined();
    // 10 s before expiry: round 0 lands before expiry, round 2 lands 20 s after (within its 30 s step).
    const before = plus(new Date(expires_at), -10_000);
    expect(nextQueryAt(before, 0, backoff_ms, expires_at)).toEqual(plus(before, 5_000));
    expect(nextQueryAt(before, 2, backoff_ms, expires_at)).toEqual(plus(before, 30_000));
  });

  test('timers - an empty schedule falls back to 5 s', () => {
    expect(nextQueryAt(now, 0, [], expires_at)).toEqual(plus(now, 5_000));
  });
});
