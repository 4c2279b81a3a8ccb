// Splits (core/splits/README.md), wired once by the composition root (workers/root/gateway.ts)
// from what it already holds: the JetStream client, the books, the orders client.

import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { Channel, ProfitSharing } from '../../channels/channel';
import type { IdKey } from '../ids';
import { split_follow_up_ms_default } from '../constants';
import type { LedgerStore } from '../ledger/store';
import type { Logger } from '../log';
import type { Sealer } from '../seal';
import { SplitBooks } from './books';
import { SplitService, type PaymentFacts } from './service';
import { ensureSplitStreams, SplitStore, splitNames } from './store';
import { SplitRules } from './rules';
import { startSplitTimerPump } from './timer-pump';
import { sweepUnfreezes } from './unfreeze';


const split_rules_sweep_ms = 1_000;

/** The follow-ups above (about 9 minutes) and 12 more at their last delay: about an hour. */
const split_stall_queries_default = 20;

/** Paid this long ago with no finishing split, a payment on a profit-sharing channel is unfrozen
 * by paycore: 28 days, before WeChat's own 30 (direct merchants), so paycore records it. */
const unfreeze_after_ms_default = 28 * 24 * 3600 * 1000;
const unfreeze_sweep_ms = 60_000;

/** A refund's claim on a channel-split payment whose refund never came to exist is given back
 * this long after it was last claimed: an hour, far past any request's deadline. */
const claim_orphan_after_ms_default = 3600 * 1000;

export interface SplitsOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  prefix: string;
  replicas: number;
  ledger: LedgerStore;
  payment(payment_id: string): Promise<PaymentFacts | undefined>;
  /** Every configured adapter; those offering profit sharing make the splits of their payments. */
  adapters: Iterable<Channel>;
  id_key: IdKey;
  /** Seals receivers' names in the split log (core/seal.ts). */
  sealer: Sealer;
  log: Logger;
  follow_up_ms?: readonly number[];
  /** Follow-up queries of a split at the channel still PROCESSING before REQUIRES_MANUAL; default 20 (about an hour). */
  stall_queries?: number;
  /** How often the split rules of paid payments are looked for (core/splits/rules.ts). */
  rules_sweep_ms?: number;
  /** The unfreeze period (core/splits/unfreeze.ts); default 28 days. */
  unfreeze_after_ms?: number;
  /** How often payments due an unfreeze are looked for; default 60 s. */
  unfreeze_sweep_ms?: number;
  /** The orphan bound of a refund's claim (SplitService.sweepOrphanClaims); default an hour. */
  claim_orphan_after_ms?: number;
  /** How often orphan claims are looked for; default 60 s. */
  claim_sweep_ms?: number;
}

export interface Splits {
  service: SplitService;
  books: SplitBooks;
  rules: SplitRules;
  stop(): Promise<void>;
}

export async function startSplits(options: SplitsOptions): Promise<Splits> {
  const names = splitNames(options.prefix);
  await ensureSplitStreams(options.jsm, names, options.replicas);
  const books = new SplitBooks(options.ledger);
  const channels = new Map<string, ProfitSharing>();
  for (const adapter of options.adapters) if (adapter.profit_sharing !== undefined) channels.set(adapter.channel_id, adapter.profit_sharing);
  const service = new SplitService({
    store: new SplitStore(options.js, options.jsm, names), books, payment: options.payment, channels, id_key: options.id_key,
    follow_up_ms: options.follow_up_ms ?? split_follow_up_ms_default, stall_queries: options.stall_queries ?? split_stall_queries_default,
    log: options.log, now: () => new Date(), sealer: options.sealer,
  });
  const pump = await startSplitTimerPump(options.js, names, service, options.log);
  const rules = new SplitRules(options.ledger, options.sealer);
  let sweeping: Promise<unknown> = Promise.resolve();
  const sweep = setInterval(() => {
    sweeping = sweeping.then(() => rules.sweep((request) => service.create(request, { require_names: false }), options.log)).catch((error: unknown) => options.log.warn({ err: String(error) }, 'split rules sweep failed; next round retries'));
  }, options.rules_sweep_ms ?? split_rules_sweep_ms);
  sweep.unref();
  const after_ms = options.unfreeze_after_ms ?? unfreeze_after_ms_default;
  let unfreezing: Promise<unknown> = Promise.resolve();
  const unfreeze = setInterval(() => {
    unfreezing = unfreezing.then(() => sweepUnfreezes(options.ledger, [...channels.keys()], after_ms, (request) => service.create(request), options.log))
      .catch((error: unknown) => options.log.warn({ err: String(error) }, 'unfreeze sweep failed; next round retries'));
  }, options.unfreeze_sweep_ms ?? unfreeze_sweep_ms);
  unfreeze.unref();
  const orphan_after_ms = options.claim_orphan_after_ms ?? claim_orphan_after_ms_default;
  let claiming: Promise<unknown> = Promise.resolve();
  const claims = setInterval(() => {
    claiming = claiming.then(() => service.sweepOrphanClaims(orphan_after_ms))
      .catch((error: unknown) => options.log.warn({ err: String(error) }, 'orphan claim sweep failed; next round retries'));
  }, options.claim_sweep_ms ?? unfreeze_sweep_ms);
  claims.unref();
  return {
    service, books, rules,
    async stop() {
      clearInterval(sweep);
      clearInterval(unfreeze);
      clearInterval(claims);
      await sweeping;
      await unfreezing;
      await claiming;
      await pump.stop();
    },
  };
}
