// The payout timers: each message on `<p>.payout.timer` is held with nak-delays until due,
// then handed to the payout service in this process, and acked only once it is handled — a
// follow-up survives any crash, and the service makes a repeated one harmless.

import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { decodeJson, no_money } from '../codec';
import { timer_fetch_batch_max, timer_nak_delay_ms_max, timer_retry_delay_ms } from '../constants';
import type { Logger } from '../log';
import type { PayoutService } from './service';
import type { PayoutNames, PayoutTimer } from './store';

export interface PayoutTimerPump {
  stop(): Promise<void>;
}

export async function startPayoutTimerPump(js: JetStreamClient, names: PayoutNames, service: Pick<PayoutService, 'followUp'>, log: Logger): Promise<PayoutTimerPump> {
  const consumer = await js.consumers.get(names.timers_stream, names.timers_consumer);
  const messages = await consumer.consume({ max_messages: timer_fetch_batch_max });
  const inflight = new Set<Promise<void>>();
  const loop = (async () => {
    for await (const message of messages) {
      const handled = handle(message, service).catch((error: unknown) => {
        log.warn({ err: String(error) }, 'payout timer failed; handed back');
        message.nak(timer_retry_delay_ms);
      });
      inflight.add(handled);
      void handled.finally(() => inflight.delete(handled));
    }
  })();
  return {
    async stop() {
      messages.stop();
      await loop;
      await Promise.allSettled([...inflight]);
    },
  };
}

async function handle(message: JsMsg, service: Pick<PayoutService, 'followUp'>): Promise<void> {
  const timer = decodeJson<PayoutTimer>(message.data, no_money);
  const wait_ms = Date.parse(timer.due_at) - Date.now();
  if (wait_ms > 0) {
    message.nak(Math.min(wait_ms, timer_nak_delay_ms_max));
    return;
  }
  await service.followUp({ payout_id: timer.payout_id, kind: timer.kind, round: timer.round });
  message.ack();
}
