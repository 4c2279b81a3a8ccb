// One durable JetStream consumer drained concurrently: every message is handed to `handle`
// as it arrives (up to timer_fetch_batch_max pulled at once); a handler that throws hands its
// message back after timer_retry_delay_ms, so nothing is lost; stop() stops pulling and waits
// for the messages already being handled. The timer pumps of payments and payouts share it.

import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { timer_fetch_batch_max, timer_retry_delay_ms } from './constants';
import type { Logger } from './log';

export interface Consuming {
  stop(): Promise<void>;
}

export async function consumeEach(
  js: JetStreamClient,
  stream: string,
  durable: string,
  handle: (message: JsMsg) => Promise<void>,
  log: Logger,
  failure: string,
): Promise<Consuming> {
  const consumer = await js.consumers.get(stream, durable);
  const messages = await consumer.consume({ max_messages: timer_fetch_batch_max });
  const inflight = new Set<Promise<void>>();
  const loop = (async () => {
    for await (const message of messages) {
      const handled = handle(message).catch((error: unknown) => {
        log.warn({ err: String(error) }, failure);
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
