// The payout timers: each message on `<p>.payout.timer` is held with nak-delays until due,
// then handed to the payout service in this process, and acked only once it is handled — a
// follow-up survives any crash, and the service makes a repeated one harmless.

import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { decodeJson, no_money } from '../codec';
import { consumeEach } from '../consume';
import { timer_nak_delay_ms_max } from '../constants';
import type { Logger } from '../log';
import type { PayoutService } from './service';
import type { PayoutNames, PayoutTimer } from './store';

export interface PayoutTimerPump {
  stop(): Promise<void>;
}

export async function startPayoutTimerPump(js: JetStreamClient, names: PayoutNames, service: Pick<PayoutService, 'followUp'>, log: Logger): Promise<PayoutTimerPump> {
  const failure = 'payout timer failed; handed back';
  return consumeEach(js, names.timers_stream, names.timers_consumer, (message) => handle(message, service), log, failure);
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
