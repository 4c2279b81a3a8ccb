// The ledger projection: reads every message of <P>_PAY_EVENTS in stream order and posts it to
// the books. Its position lives in PostgreSQL, not in a JetStream consumer's acks: a batch's
// postings and the new position commit in one transaction (LedgerStore.applyMessages), and on
// start it resumes from that position with an ordered consumer. A crash anywhere therefore
// repeats nothing and skips nothing; entry keys are unique as a second guard.

import { randomBytes } from 'node:crypto';
import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { decodeJson } from '../codec';
import { ledger_batch_max, ledger_lag_poll_ms, ledger_retry_ms_max, ledger_stop_ms_max } from '../constants';
import type { Logger } from '../log';
import type { Names } from '../names';
import { eventsOf, stored_message_schema, type StoredMessage } from '../events/stored';
import type { LedgerStore, StreamMessage } from './store';

export interface ProjectionMetrics {
  /** Messages of the event stream not yet in the books. */
  lag_messages: { set(value: number): void };
  entries: { inc(value?: number): void };
}

export interface Projection {
  /** The last stream sequence in the books. */
  readonly applied_seq: number;
  stop(): Promise<void>;
}

export function ledgerConsumerName(prefix: string): string {
  return `${prefix.toUpperCase()}_LEDGER`;
}

export async function startProjection(options: {
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: Names;
  prefix: string;
  store: LedgerStore;
  log: Logger;
  metrics?: ProjectionMetrics;
  batch_max?: number;
}): Promise<Projection> {
  const { js, jsm, names, store, log, metrics } = options;
  const consumer = ledgerConsumerName(options.prefix);
  const batch_max = options.batch_max ?? ledger_batch_max;
  let applied_seq = await store.progress(consumer);
  let stopping = false;
  const ordered = await js.consumers.get(names.events_stream, {
    // A name of this process's own: the ephemeral consumer of a killed process lingers until
    // its inactivity threshold and must not be mistaken for ours.
    name_prefix: `${consumer}_${randomBytes(4).toString('hex')}`,
    // No filter: the stream holds only <p>.pay.evt.> (and a subject filter on an ordered
    // consumer needs nats-server 2.10).
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: applied_seq + 1,
  });
  const messages = await ordered.consume({ max_messages: batch_max });

  /** Posts a batch, retrying until it is in the books (PostgreSQL down: wait, never skip). */
  const apply = async (batch: StreamMessage[]): Promise<void> => {
    for (let attempt = 0; ; attempt += 1) {
      try {
        // Not inside `metrics?.…(…)`: without metrics that would skip the call altogether.
        const entries = await store.applyMessages(consumer, batch);
        metrics?.entries.inc(entries);
        applied_seq = batch[batch.length - 1]!.seq;
        return;
      } catch (error) {
        if (stopping) throw error;
        log.warn({ err: String(error), first_seq: batch[0]!.seq, attempt }, 'ledger: posting failed; retrying the same batch');
        await new Promise((resolve) => setTimeout(resolve, Math.min(ledger_retry_ms_max, 100 * 2 ** attempt)));
      }
    }
  };

  const running = (async () => {
    let batch: StreamMessage[] = [];
    for await (const message of messages) {
      const stored = decodeJson<StoredMessage>(message.data, stored_message_schema);
      batch.push({ seq: message.seq, events: eventsOf(stored), state: stored.state });
      // A batch closes when full or when nothing more is waiting: low latency when idle,
      // one transaction per many messages under load.
      if (batch.length >= batch_max || message.info.pending === 0) {
        await apply(batch);
        batch = [];
      }
    }
  })().catch((error: unknown) => {
    if (!stopping) log.error({ err: String(error) }, 'ledger projection stopped');
  });

  const poll = setInterval(() => {
    void jsm.streams.info(names.events_stream).then((info) => metrics?.lag_messages.set(Math.max(0, info.state.last_seq - applied_seq)), () => undefined);
  }, ledger_lag_poll_ms);
  poll.unref();
  log.info({ consumer, from_seq: applied_seq + 1 }, 'ledger projection started');

  return {
    get applied_seq() {
      return applied_seq;
    },
    async stop() {
      stopping = true;
      clearInterval(poll);
      // Bounded: a stop must not hang the process's shutdown on a consumer that does not
      // answer; whatever was not committed is read again by the next start.
      const bounded = (work: Promise<unknown>) => Promise.race([work, new Promise((resolve) => setTimeout(resolve, ledger_stop_ms_max).unref())]);
      await bounded(Promise.resolve(messages.close()).catch(() => undefined));
      await bounded(running);
    },
  };
}
