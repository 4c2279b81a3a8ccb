// Splits (core/splits/README.md), wired once by the composition root (workers/root/gateway.ts)
// from what it already holds: the JetStream client, the books, the orders client.

import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { IdKey } from '../ids';
import type { LedgerStore } from '../ledger/store';
import type { Logger } from '../log';
import { SplitBooks } from './books';
import { SplitService, type PaymentFacts } from './service';
import { ensureSplitStreams, SplitStore, splitNames } from './store';
import { startSplitTimerPump } from './timer-pump';

/** Follow-ups of a pending split (the books catching up with its payment): about ten minutes. */
const split_follow_up_ms: readonly number[] = [1_000, 2_000, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000];

export interface SplitsOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  prefix: string;
  replicas: number;
  ledger: LedgerStore;
  payment(payment_id: string): Promise<PaymentFacts | undefined>;
  id_key: IdKey;
  log: Logger;
  follow_up_ms?: readonly number[];
}

export interface Splits {
  service: SplitService;
  books: SplitBooks;
  stop(): Promise<void>;
}

export async function startSplits(options: SplitsOptions): Promise<Splits> {
  const names = splitNames(options.prefix);
  await ensureSplitStreams(options.jsm, names, options.replicas);
  const books = new SplitBooks(options.ledger);
  const service = new SplitService({
    store: new SplitStore(options.js, options.jsm, names), books, payment: options.payment, id_key: options.id_key,
    follow_up_ms: options.follow_up_ms ?? split_follow_up_ms, log: options.log, now: () => new Date(),
  });
  const pump = await startSplitTimerPump(options.js, names, service, options.log);
  return { service, books, stop: () => pump.stop() };
}
