// Durable timers: a message on PAY_TIMERS per timer. The timer pump (workers/timer-pump.ts)
// holds each one with nak-delays until it is due, then turns it into an actor command. A
// payment's creation needs none: its expiry and first query are read from its creation message
// on PAY_EVENTS by the main thread's event reader (workers/event-reader.ts).

import type { JetStreamClient } from '@nats-io/jetstream';
import { encodeJson } from '../codec';
import { dependencyFailure } from '../errors';
import type { ActorMetrics } from '../metrics';
import type { Names } from '../names';

export type TimerKind = 'expire' | 'query' | 'refund';

export interface TimerMessage {
  kind: TimerKind;
  payment_id: string;
  due_at: string;
  /** query, refund: the how-manieth follow-up (index into the backoff schedule). */
  round?: number;
  /** refund: which refund to follow up. */
  refund_id?: string;
  /** Failed deliveries so far (the pump's retries); absent: none. */
  failures?: number;
}

/** A timer that kept failing, on `<p>.pay.timerdead.<kind>.<payment_id>`. */
export interface DeadTimerMessage {
  timer: TimerMessage;
  failures: number;
  /** The last failure: the actor's reason and message, or what the pump could not do. */
  reason: string;
  dead_at: string;
}

export class TimerScheduler {
  constructor(
    private readonly js: JetStreamClient,
    private readonly names: Names,
    private readonly publish_latency?: ActorMetrics['publish'],
  ) {}

  async schedule(timer: TimerMessage): Promise<void> {
    // The id makes a publish the client retries a server-side duplicate.
    const retry = timer.failures === undefined || timer.failures === 0 ? '' : `:f${timer.failures}`;
    const id = `${timer.payment_id}:${timer.kind}:${timer.refund_id ?? ''}:${timer.round ?? 0}:${timer.due_at}${retry}`;
    const started = process.hrtime.bigint();
    try {
      await this.js.publish(this.names.timer(timer.kind), encodeJson(timer), { msgID: id });
    } catch (error) {
      throw dependencyFailure(error, 'NATS');
    }
    this.publish_latency?.observe({ stream: 'timers' }, Number(process.hrtime.bigint() - started) / 1e9);
  }
}

/** When the next pending-attempt query is due after `round`, or undefined past expiry. */
export function nextQueryAt(now: Date, round: number, backoff_ms: readonly number[], expires_at: string): Date | undefined {
  const delay = backoff_ms[Math.min(round, backoff_ms.length - 1)] ?? backoff_ms[backoff_ms.length - 1] ?? 5_000;
  const due = new Date(now.getTime() + delay);
  // One query after expiry still runs (the close may have raced a payment); none later.
  const last = new Date(Date.parse(expires_at) + delay);
  return due.getTime() > last.getTime() ? undefined : due;
}

/** The durable consumer on PAY_EVENTS that held the creations' timers before the main
 * thread's event reader (workers/event-reader.ts) read them from the notifier's deliveries:
 * no longer created; one left by an earlier version is drained, then deleted. */
export function eventTimersConsumer(names: Names): string {
  return `${names.events_stream.slice(0, -'_PAY_EVENTS'.length)}_EVENT_TIMERS`;
}
