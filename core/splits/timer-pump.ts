// The split timers: each message on `<p>.split.timer` is held with nak-delays until due, then
// handed to the split service in this process, and acked only once it is handled.

import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { decodeJson, no_money } from '../codec';
import { consumeEach, type Consuming } from '../consume';
import { timer_nak_delay_ms_max } from '../constants';
import type { Logger } from '../log';
import type { SplitService } from './service';
import type { SplitNames, SplitTimer } from './store';

export function startSplitTimerPump(js: JetStreamClient, names: SplitNames, service: Pick<SplitService, 'followUp'>, log: Logger): Promise<Consuming> {
  return consumeEach(js, names.timers_stream, names.timers_consumer, (message) => handle(message, service), log, 'split timer failed; handed back');
}

async function handle(message: JsMsg, service: Pick<SplitService, 'followUp'>): Promise<void> {
  const timer = decodeJson<SplitTimer>(message.data, no_money);
  const wait_ms = Date.parse(timer.due_at) - Date.now();
  if (wait_ms > 0) {
    message.nak(Math.min(wait_ms, timer_nak_delay_ms_max));
    return;
  }
  await service.followUp({ split_id: timer.split_id, round: timer.round });
  message.ack();
}
