// Payouts (core/payouts/README.md), wired once by the composition root (workers/root/gateway.ts) from
// what it already holds: the JetStream client, the books, the channel adapters, the data key.

import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { Channel } from '../../channels/channel';
import type { IdKey } from '../ids';
import type { LedgerStore } from '../ledger/store';
import type { Logger } from '../log';
import type { Sealer } from '../seal';
import { timer_retry_backoff_ms_default } from '../constants';
import { PayoutBooks } from './books';
import { PayoutDeadLetters } from './dead-letters';
import { PayoutService, type PayoutChannel } from './service';
import { SettlementPayouts } from './settlement';
import { ensurePayoutStreams, PayoutStore, payoutNames } from './store';
import { startPayoutTimerPump } from './timer-pump';
import type { PayoutState } from './types';
import { transferLimitsOf, Transfers } from './transfers';
import { memberLimitsOf, memberWallet, type MemberWallet } from './wallets';
import { payout_limits_default, type PayoutLimits } from '../constants';

/** Follow-ups of an open payout (a bank may take hours): about two days, then REQUIRES_MANUAL. */
const payout_follow_up_ms: readonly number[] = [
  5_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_800_000, 3_600_000, 7_200_000, 21_600_000, 43_200_000, 86_400_000,
];
/** After success: when to ask whether the receiving bank sent it back. */
const payout_return_watch_ms: readonly number[] = [3_600_000, 86_400_000, 259_200_000];

export interface PayoutsOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  prefix: string;
  replicas: number;
  ledger: LedgerStore;
  /** Every configured adapter; those with a payout API pay out. */
  adapters: Iterable<Channel>;
  sealer: Sealer;
  id_key: IdKey;
  log: Logger;
  follow_up_ms?: readonly number[];
  return_watch_ms?: readonly number[];
  /** A failing timer's retry delays; past the last, its dead letter. */
  retry_backoff_ms?: readonly number[];
  /** How often settlement batches are looked for to pay out (0: never; tests call openBatches). */
  settlement_scan_ms: number;
  /** The merchant's group (merchants configuration): transfers stay inside one. */
  groupOf(merchant_id: string): string | undefined;
  /** A merchant's money-out limits (the deployment's defaults under its own payout_limits);
   * absent: core/constants.ts payout_limits_default for every merchant. */
  limitsOf?(merchant_id: string): PayoutLimits;
  /** Records a refund's payout on the refund (the orders module). */
  onRefundPaid?(state: PayoutState): Promise<void>;
}

export interface Payouts {
  service: PayoutService;
  books: PayoutBooks;
  settlement: SettlementPayouts;
  dead_letters: PayoutDeadLetters;
  transfers: Transfers;
  /** A member's wallet (GetMemberWallet). */
  wallet(merchant_id: string, member_id: string, currency: string): Promise<MemberWallet>;
  stop(): Promise<void>;
}

export async function startPayouts(options: PayoutsOptions): Promise<Payouts> {
  const names = payoutNames(options.prefix);
  await ensurePayoutStreams(options.jsm, names, options.replicas);
  const channels = new Map<string, PayoutChannel>();
  for (const adapter of options.adapters) {
    if (adapter.payout !== undefined && adapter.queryPayout !== undefined) {
      channels.set(adapter.channel_id, { payout: (request) => adapter.payout!(request), queryPayout: (payout_no) => adapter.queryPayout!(payout_no) });
    }
  }
  const limitsOf = (merchant_id: string): PayoutLimits => options.limitsOf?.(merchant_id) ?? payout_limits_default;
  const member_limits = (merchant_id: string) => memberLimitsOf(limitsOf(merchant_id));
  const books = new PayoutBooks(options.ledger, member_limits);
  const store = new PayoutStore(options.js, options.jsm, names);
  const follow_up_ms = options.follow_up_ms ?? payout_follow_up_ms;
  const service = new PayoutService({
    store, books, channels, sealer: options.sealer, id_key: options.id_key,
    query_backoff_ms: follow_up_ms, return_watch_ms: options.return_watch_ms ?? payout_return_watch_ms, log: options.log,
    now: () => new Date(), onRefundPaid: options.onRefundPaid,
  });
  const settlement = new SettlementPayouts({
    ledger: options.ledger, payouts: service, store, sealer: options.sealer, check_ms: follow_up_ms, now: () => new Date(),
  });
  const retry_backoff_ms = options.retry_backoff_ms ?? timer_retry_backoff_ms_default;
  const pump = await startPayoutTimerPump({ js: options.js, names, store, handlers: { service, settlement }, retry_backoff_ms, log: options.log });
  const scan = (): void => void settlement.openBatches().catch((error: unknown) => {
    options.log.warn({ err: String(error) }, 'settlement payouts: scan failed; the next round retries');
  });
  const scanning = options.settlement_scan_ms > 0 ? setInterval(scan, options.settlement_scan_ms) : undefined;
  scanning?.unref();
  return {
    service, books, settlement, dead_letters: new PayoutDeadLetters(options.jsm, names, store),
    transfers: new Transfers({
      ledger: options.ledger, groupOf: options.groupOf, id_key: options.id_key, limits: (merchant_id) => transferLimitsOf(limitsOf(merchant_id)),
    }),
    wallet: (merchant_id, member_id, currency) => memberWallet(
      options.ledger, member_limits(merchant_id), merchant_id, member_id, currency, async (payout_id) => (await store.load(payout_id))?.state.status,
    ),
    async stop() {
      clearInterval(scanning);
      await pump.stop();
      await books.close();
    },
  };
}
