// The payout timers: each message on `<p>.payout.timer` is held with nak-delays until due,
// then handed to its handler in this process (a payout's follow-up to the payout service, a
// settlement batch to the settlement payouts), and acked only once it is handled — a timer
// survives any crash, and the handlers make a repeated one harmless. A handler that fails has
// its timer scheduled again after the next retry delay (a new message carrying its failure
// count); once the delays are spent the timer is dead-lettered on `<p>.payout.timerdead.<kind>`
// with its last failure, for an operator to list and re-drive (dead-letters.ts).

import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { decodeJson, encodeJson, no_money } from '../codec';
import { consumeEach } from '../consume';
import { timer_nak_delay_ms_max } from '../constants';
import type { Logger } from '../log';
import type { PayoutService } from './service';
import { AttemptFailed } from './settlement';
import { timerSubject, type DeadPayoutTimer, type PayoutNames, type PayoutStore, type PayoutTimer, type SettlementTimer } from './store';

export interface PayoutTimerPump {
  stop(): Promise<void>;
}

interface PayoutTimerHandlers {
  service: Pick<PayoutService, 'followUp'>;
  /** Absent: settlement timers fail (and end as dead letters). */
  settlement?: { drive(timer: SettlementTimer): Promise<void> };
}

export interface PayoutTimerPumpOptions {
  js: JetStreamClient;
  names: PayoutNames;
  store: Pick<PayoutStore, 'schedule'>;
  handlers: PayoutTimerHandlers;
  /** The delay before each retry of a failing timer; past the last, its dead letter. */
  retry_backoff_ms: readonly number[];
  log: Logger;
}

export async function startPayoutTimerPump(options: PayoutTimerPumpOptions): Promise<PayoutTimerPump> {
  const failure = 'payout timer could not be retried or dead-lettered; handed back';
  return consumeEach(options.js, options.names.timers_stream, options.names.timers_consumer, (message) => handle(message, options), options.log, failure);
}

async function handle(message: JsMsg, options: PayoutTimerPumpOptions): Promise<void> {
  const timer = decodeJson<PayoutTimer>(message.data, no_money);
  const wait_ms = Date.parse(timer.due_at) - Date.now();
  if (wait_ms > 0) {
    message.nak(Math.min(wait_ms, timer_nak_delay_ms_max));
    return;
  }
  try {
    if (timer.kind === 'settlement') {
      if (options.handlers.settlement === undefined) throw new Error('no settlement payouts in this process');
      await options.handlers.settlement.drive(timer);
    } else {
      await options.handlers.service.followUp({ payout_id: timer.payout_id, kind: timer.kind, round: timer.round });
    }
  } catch (error) {
    // A settlement attempt that failed: the retry (or the dead letter's re-drive) drives the next.
    const next: PayoutTimer = error instanceof AttemptFailed && timer.kind === 'settlement' ? { ...timer, ...error.next } : timer;
    await retryOrDeadLetter(options, message, next, error instanceof Error ? `${error.name}: ${error.message}` : String(error));
    return;
  }
  message.ack();
}

/** The timer again after the next delay, or its dead letter once the delays are spent; either
 * is published before the original is acked (if publishing fails, the original is handed back). */
async function retryOrDeadLetter(options: PayoutTimerPumpOptions, message: JsMsg, timer: PayoutTimer, reason: string): Promise<void> {
  const failures = (timer.failures ?? 0) + 1;
  const delay_ms = options.retry_backoff_ms[failures - 1];
  const about = { timer: timerSubject(timer), kind: timer.kind, failures, reason: reason.slice(0, 1_000) };
  if (delay_ms === undefined) {
    const dead: DeadPayoutTimer = { timer, failures, reason: about.reason, dead_at: new Date().toISOString() };
    await options.js.publish(options.names.timerDead(timer.kind), encodeJson(dead), { msgID: `dead:${message.info.stream}:${message.seq}` });
    message.ack();
    options.log.error(about, 'payout timer dead-lettered: kept failing; PayoutAdminService lists and re-drives it');
    return;
  }
  options.log.warn(about, 'payout timer failed; retry scheduled');
  await options.store.schedule({ ...timer, failures, due_at: new Date(Date.now() + delay_ms).toISOString() });
  message.ack();
}
