// The retry schedule and the per-merchant in-flight bound, as pure functions.

import { InflightBounds } from './bounds';
import { notify_schedule_ms_default } from '../constants';
import { afterFailure, firstPending, parseScheduleMs, pendingMessageId, resentPending, scheduleProblems } from './schedule';
import type { PlannedNotification } from './types';

const planned: PlannedNotification = {
  id: 'pabc:4', type: 'payment.succeeded', merchant_id: 'm1', payment_id: 'pabc', url: 'https://m.example.com/n', body: '{}',
};
const now = new Date('2025-03-01T08:00:00.000Z');
const plus = (ms: number): string => new Date(now.getTime() + ms).toISOString();

describe('notify schedule', () => {
  test('notify - the default schedule is 10 attempts over about 48 hours', () => {
    expect(notify_schedule_ms_default).toHaveLength(10);
    const total_h = notify_schedule_ms_default.reduce((sum, ms) => sum + ms, 0) / 3_600_000;
    expect(total_h).toBeGreaterThan(47);
    expect(total_h).toBeLessThan(49);
    expect(scheduleProblems(notify_schedule_ms_default)).toEqual([]);
  });

  test('notify - each failure queues the next attempt after its delay, then the dead letter', () => {
    const schedule_ms = [0, 100, 200];
    let pending = firstPending(planned, now, schedule_ms);
    expect(pending).toMatchObject({ attempt: 0, due_at: plus(0), resends: 0 });
    const first = afterFailure(pending, 'http_500', now, schedule_ms);
    expect(first).toMatchObject({ kind: 'retry', pending: { attempt: 1, due_at: plus(100), last_error: 'http_500' } });
    pending = first.kind === 'retry' ? first.pending : pending;
    const second = afterFailure(pending, 'timeout', now, schedule_ms);
    expect(second).toMatchObject({ kind: 'retry', pending: { attempt: 2, due_at: plus(200), last_error: 'timeout' } });
    pending = second.kind === 'retry' ? second.pending : pending;
    const last = afterFailure(pending, 'ECONNREFUSED', now, schedule_ms);
    expect(last).toMatchObject({ kind: 'dead', dead: { attempts: 3, last_error: 'ECONNREFUSED', dead_at: now.toISOString(), id: 'pabc:4' } });
  });

  test('notify - a re-send starts the schedule over under new message ids', () => {
    const schedule_ms = [0, 100];
    const pending = firstPending(planned, now, schedule_ms);
    const retry = afterFailure(pending, 'http_500', now, schedule_ms);
    const dead = afterFailure(retry.kind === 'retry' ? retry.pending : pending, 'http_500', now, schedule_ms);
    expect(dead.kind).toBe('dead');
    const resent = resentPending(dead.kind === 'dead' ? dead.dead : (undefined as never), now, schedule_ms);
    expect(resent).toMatchObject({ attempt: 0, resends: 1, id: 'pabc:4', body: '{}' });
    expect(resent).not.toHaveProperty('attempts');
    expect(pendingMessageId(resent)).not.toBe(pendingMessageId(pending));
  });

  test.each([
    ['', 'an empty list'],
    ['0,15000,-1', 'a negative delay'],
    ['0,1.5', 'a fraction'],
    ['0,1,2,3,4,5,6,7,8,9,10', 'eleven attempts'],
  ])('notify - parseScheduleMs rejects %j (%s)', (text) => {
    expect(() => parseScheduleMs(text)).toThrow(/notify schedule/);
  });

  test('notify - parseScheduleMs reads a comma-separated list of milliseconds', () => {
    expect(parseScheduleMs('0, 15000,60000')).toEqual([0, 15_000, 60_000]);
  });

  test('notify - a merchant gets at most its bound of slots while others still get theirs', () => {
    const bounds = new InflightBounds(2, 3);
    expect(bounds.tryAcquire('slow')).toBe(true);
    expect(bounds.tryAcquire('slow')).toBe(true);
    expect(bounds.tryAcquire('slow')).toBe(false);
    expect(bounds.tryAcquire('fast')).toBe(true);
    expect(bounds.tryAcquire('other')).toBe(false); // the process bound
    bounds.release('slow');
    expect(bounds.inflight('slow')).toBe(1);
    expect(bounds.tryAcquire('other')).toBe(true);
    expect(bounds.inflight()).toBe(3);
    expect(() => new InflightBounds(2, 3).release('never')).toThrow(/release without acquire/);
  });
});
