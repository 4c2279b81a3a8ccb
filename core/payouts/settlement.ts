// Settlement payouts (结算代付): each settlement batch the books make (core/ledger settle: a
// merchant's pending money becoming available) is paid out to the merchant's settlement
// account, when it has one. One payout per attempt, keyed `settle:<batch_id>:<attempt>` (a key
// the merchant's own CreatePayout cannot use: ':' is outside its alphabet), so a batch is paid
// at most once per attempt whatever repeats; a new attempt starts only once the previous one
// FAILED (its funds released), so a batch is never paid twice. The attempts ride the payout
// timers (timer-pump.ts): a failed attempt fails its timer, whose retry delays space the
// attempts and whose dead letter ends them; re-driving the dead letter starts the next attempt.

import { PaycoreError } from '../errors';
import type { LedgerStore } from '../ledger/store';
import type { Sealer } from '../seal';
import type { PayoutService } from './service';
import type { PayoutStore, SettlementTimer } from './store';
import type { PayoutState } from './types';

interface Payee {
  account_no: string;
  account_name: string;
}

export interface SettlementAccountInput {
  channel_id: string;
  bank_code: string;
  payee: Payee;
}

export interface SettlementAccount {
  merchant_id: string;
  channel_id: string;
  bank_code: string;
  payee_last4: string;
  /** Batches made from this instant on are paid out. */
  since: Date;
  updated_at: Date;
}

/** A failed attempt: the timer counts a failure and, after the retry delay, drives `next`. */
export class AttemptFailed extends Error {
  constructor(message: string, readonly next: Pick<SettlementTimer, 'attempt' | 'round'>) {
    super(message);
    this.name = 'AttemptFailed';
  }
}

export interface SettlementPayoutsDeps {
  ledger: Pick<LedgerStore, 'pool'>;
  payouts: Pick<PayoutService, 'create' | 'get' | 'channel_ids'>;
  store: Pick<PayoutStore, 'schedule'>;
  sealer: Sealer;
  /** When to look again at an attempt still in flight (by check round; the last repeats). */
  check_ms: readonly number[];
  now(): Date;
}

/** Batches opened per round at most (the next round takes the rest). */
const batches_per_round_max = 500;

export class SettlementPayouts {
  constructor(private readonly deps: SettlementPayoutsDeps) {}

  /** Sets (or replaces) where the merchant's settlements are paid. Batches made before the
   * first account was set are not paid out. */
  async setAccount(merchant_id: string, input: SettlementAccountInput): Promise<SettlementAccount> {
    if (!this.deps.payouts.channel_ids.includes(input.channel_id)) {
      throw new PaycoreError('INVALID_FIELD', `channel_id: ${input.channel_id} does not pay out`, [{ field: 'channel_id', description: 'must name a channel that pays out' }]);
    }
    const result = await this.deps.ledger.pool.query<SettlementAccount>(
      `INSERT INTO settlement_accounts (merchant_id, channel_id, bank_code, payee_sealed, payee_last4) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (merchant_id) DO UPDATE SET channel_id = $2, bank_code = $3, payee_sealed = $4, payee_last4 = $5, updated_at = now()
       RETURNING merchant_id, channel_id, bank_code, payee_last4, since, updated_at`,
      [merchant_id, input.channel_id, input.bank_code, this.deps.sealer.seal(input.payee), input.payee.account_no.slice(-4)],
    );
    return result.rows[0]!;
  }

  async getAccount(merchant_id: string): Promise<SettlementAccount> {
    const result = await this.deps.ledger.pool.query<SettlementAccount>(
      'SELECT merchant_id, channel_id, bank_code, payee_last4, since, updated_at FROM settlement_accounts WHERE merchant_id = $1',
      [merchant_id],
    );
    const account = result.rows[0];
    if (account === undefined) throw new PaycoreError('NOT_FOUND', `merchant ${merchant_id} has no settlement account`);
    return account;
  }

  /** Opens the payout of every batch made since its merchant's account was set that has none
   * yet: its first timer, then its row (a crash between the two: the next round schedules it
   * again, and the timer's id makes that one message). Run after each settlement cut-off. */
  async openBatches(): Promise<number> {
    const batches = await this.deps.ledger.pool.query<{ batch_id: bigint; merchant_id: string; currency: string; amount_minor: bigint }>(
      `SELECT b.batch_id, b.merchant_id, b.currency, b.amount_minor
         FROM settlement_batches b JOIN settlement_accounts a USING (merchant_id)
        WHERE b.created_at >= a.since AND b.amount_minor > 0 AND NOT EXISTS (SELECT 1 FROM settlement_payouts p WHERE p.batch_id = b.batch_id)
        ORDER BY b.batch_id LIMIT $1`,
      [batches_per_round_max],
    );
    for (const batch of batches.rows) {
      await this.deps.store.schedule({ kind: 'settlement', batch_id: String(batch.batch_id), attempt: 1, round: 0, due_at: new Date(batch_created_epoch).toISOString() });
      await this.deps.ledger.pool.query(
        'INSERT INTO settlement_payouts (batch_id, merchant_id, currency, amount_minor) VALUES ($1, $2, $3, $4) ON CONFLICT (batch_id) DO NOTHING',
        [batch.batch_id, batch.merchant_id, batch.currency, batch.amount_minor],
      );
    }
    return batches.rows.length;
  }

  /** One delivery of a batch's timer: its attempt created (or found), then settled by what the
   * payout says. Throws AttemptFailed when the attempt failed (the next one after the retry
   * delay); throws a plain error when the attempt needs an operator (REQUIRES_MANUAL). */
  async drive(timer: SettlementTimer): Promise<void> {
    const batch = await this.#batch(timer.batch_id);
    if (batch.status === 'PAID') return;
    const account = await this.#account(batch.merchant_id);
    const payout = await this.deps.payouts.create({
      merchant_id: batch.merchant_id, merchant_payout_no: `settle:${timer.batch_id}:${timer.attempt}`, amount_minor: batch.amount_minor, currency: batch.currency,
      bank_code: account.bank_code, payee: this.deps.sealer.open<Payee>(account.payee_sealed), purpose: 'settlement', channel_id: account.channel_id,
    });
    // The row may not be written yet (openBatches writes it after the first timer): written here then.
    await this.deps.ledger.pool.query(
      `INSERT INTO settlement_payouts AS p (batch_id, merchant_id, currency, amount_minor, attempts, payout_id, status) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (batch_id) DO UPDATE SET attempts = $5, payout_id = $6, status = $7, updated_at = now() WHERE p.status = 'OPEN' AND p.attempts <= $5`,
      [timer.batch_id, batch.merchant_id, batch.currency, batch.amount_minor, timer.attempt, payout.payout_id, payout.status === 'SUCCEEDED' ? 'PAID' : 'OPEN'],
    );
    await this.#settle(timer, payout);
  }

  /** What the attempt's payout means for the batch. */
  #settle(timer: SettlementTimer, payout: PayoutState): void | Promise<void> {
    switch (payout.status) {
      case 'SUCCEEDED':
      case 'RETURNED': // paid; the return put the money back in available, where a new batch or a withdrawal takes it
        return;
      case 'PENDING':
      case 'PROCESSING': {
        const delay = this.deps.check_ms[Math.min(timer.round, this.deps.check_ms.length - 1)] ?? 60_000;
        return this.deps.store.schedule({ ...timer, round: timer.round + 1, due_at: new Date(this.deps.now().getTime() + delay).toISOString() });
      }
      case 'FAILED':
        throw new AttemptFailed(`settlement batch ${timer.batch_id}: attempt ${timer.attempt} (payout ${payout.payout_id}) failed ${payout.failure?.code ?? ''}`, { attempt: timer.attempt + 1, round: 0 });
      case 'REQUIRES_MANUAL':
        throw new Error(`settlement batch ${timer.batch_id}: attempt ${timer.attempt} (payout ${payout.payout_id}) needs an operator: its outcome stayed unknown`);
    }
  }

  /** The batch as the books made it, and whether its payout is done. */
  async #batch(batch_id: string): Promise<{ merchant_id: string; currency: string; amount_minor: bigint; status: string }> {
    const result = await this.deps.ledger.pool.query<{ merchant_id: string; currency: string; amount_minor: bigint; status: string }>(
      `SELECT b.merchant_id, b.currency, b.amount_minor, coalesce(p.status, 'OPEN') AS status
         FROM settlement_batches b LEFT JOIN settlement_payouts p USING (batch_id) WHERE b.batch_id = $1`,
      [batch_id],
    );
    const batch = result.rows[0];
    if (batch === undefined) throw new Error(`no settlement batch ${batch_id}`);
    return batch;
  }

  async #account(merchant_id: string): Promise<{ channel_id: string; bank_code: string; payee_sealed: string }> {
    const result = await this.deps.ledger.pool.query<{ channel_id: string; bank_code: string; payee_sealed: string }>(
      'SELECT channel_id, bank_code, payee_sealed FROM settlement_accounts WHERE merchant_id = $1',
      [merchant_id],
    );
    const account = result.rows[0];
    if (account === undefined) throw new Error(`merchant ${merchant_id} has no settlement account`);
    return account;
  }
}

/** A batch's first timer is due at once: a fixed instant in the past, so every round that
 * schedules it again publishes the same message id (JetStream drops the repeat). */
const batch_created_epoch = 0;
