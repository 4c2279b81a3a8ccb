// The retry schedule: pure functions from a pending delivery and an attempt's result to the
// next message (a retry, or a dead letter). The attempt index travels in the message, so a
// restarted notifier continues exactly where the last one stopped.

import { notify_attempts_max } from './constants';
import type { DeadLetterMessage, PendingNotification, PlannedNotification } from './types';

/** Problems with a configured schedule (one message per problem; empty: valid). */
export function scheduleProblems(schedule_ms: readonly number[]): string[] {
  const problems: string[] = [];
  if (schedule_ms.length < 1 || schedule_ms.length > notify_attempts_max) {
    problems.push(`must list 1 to ${notify_attempts_max} delays, has ${schedule_ms.length}`);
  }
  schedule_ms.forEach((delay, index) => {
    if (!Number.isSafeInteger(delay) || delay < 0) problems.push(`delay ${index} must be a non-negative integer of milliseconds, is ${delay}`);
  });
  return problems;
}

/** Parses `"0,15000,60000"` (an environment variable) into a schedule, or throws naming the problem. */
export function parseScheduleMs(text: string): number[] {
  const schedule_ms = text.split(',').map((part) => (/^\s*\d+\s*$/.test(part) ? Number(part) : Number.NaN));
  const problems = scheduleProblems(schedule_ms);
  if (problems.length > 0) throw new Error(`notify schedule "${text}": ${problems.join('; ')}`);
  return schedule_ms;
}

/** The first attempt of a new notification (due after the schedule's first delay). */
export function firstPending(planned: PlannedNotification, now: Date, schedule_ms: readonly number[]): PendingNotification {
  return { ...planned, attempt: 0, due_at: new Date(now.getTime() + (schedule_ms[0] ?? 0)).toISOString(), resends: 0 };
}

/** An operator's re-send of a dead letter: the schedule from its start. */
export function resentPending(dead: DeadLetterMessage, now: Date, schedule_ms: readonly number[]): PendingNotification {
  const { id, type, merchant_id, payment_id, refund_id, url, body } = dead;
  return {
    id, type, merchant_id, payment_id, refund_id, url, body,
    attempt: 0,
    due_at: new Date(now.getTime() + (schedule_ms[0] ?? 0)).toISOString(),
    resends: dead.resends + 1,
    last_error: dead.last_error,
    last_attempt_at: dead.last_attempt_at,
  };
}

export type AfterFailure = { kind: 'retry'; pending: PendingNotification } | { kind: 'dead'; dead: DeadLetterMessage };

/** What follows a failed attempt: the next attempt after its delay, or the dead letter. */
export function afterFailure(pending: PendingNotification, error: string, now: Date, schedule_ms: readonly number[]): AfterFailure {
  const next = pending.attempt + 1;
  const at = now.toISOString();
  const delay = schedule_ms[next];
  if (delay === undefined) {
    return { kind: 'dead', dead: { ...pending, attempts: next, last_error: error, last_attempt_at: at, dead_at: at } };
  }
  return {
    kind: 'retry',
    pending: { ...pending, attempt: next, due_at: new Date(now.getTime() + delay).toISOString(), last_error: error, last_attempt_at: at },
  };
}

/** The Nats-Msg-Id of a queued attempt: a publish repeated after a crash is a duplicate. */
export function pendingMessageId(pending: PendingNotification): string {
  return `${pending.id}#r${pending.resends}#a${pending.attempt}`;
}

export function deadMessageId(dead: DeadLetterMessage): string {
  return `${dead.id}#r${dead.resends}#dead`;
}
