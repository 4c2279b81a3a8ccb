// The payout actor: one mailbox per payout (its commands one at a time, in arrival order),
// every state change through decidePayout and the payout event log (optimistic concurrency
// across processes), one fixed order per payout — record it, freeze its funds in the books,
// write ahead, call the provider, record the answer — and a durable follow-up timer scheduled
// before anything else, so a crash at any step is picked up where it stopped (README.md).

import { PaycoreError } from '../errors';
import { payoutId, type IdKey } from '../ids';
import type { Logger } from '../log';
import type { Sealer } from '../seal';
import { ChannelError, type PayoutOutcome, type PayoutRequest } from '../../channels/channel';
import type { FreezeResult } from './books';
import { decidePayout } from './decide';
import { ConflictError, type LoadedPayout, type PayoutStore, type PayoutFollowUp } from './store';
import type { PayoutCommand, PayoutInput, PayoutState, ProviderPayoutStatus } from './types';
import { checkWithdrawal, member_limits_default, type MemberLimits } from './wallets';

/** The payee as sealed into the event: personal data, opened only for the provider call. */
interface Payee {
  account_no: string;
  account_name: string;
}

export interface CreatePayout {
  merchant_id: string;
  merchant_payout_no: string;
  amount_minor: bigint;
  currency: string;
  bank_code: string;
  payee: Payee;
  purpose: string;
  /** Absent: the first channel that pays out. */
  channel_id?: string;
  /** The refund this payout pays (PayoutInput.refund). */
  refund?: PayoutInput['refund'];
  /** A member's withdrawal: from this member's wallet (PayoutInput.member_id). */
  member_id?: string;
}

export interface PayoutChannel {
  payout(request: PayoutRequest): Promise<PayoutOutcome>;
  queryPayout(payout_no: string): Promise<PayoutOutcome>;
}

export interface PayoutServiceDeps {
  store: Pick<PayoutStore, 'load' | 'append' | 'schedule'>;
  books: {
    freeze(state: PayoutState): Promise<FreezeResult>;
    sync(state: PayoutState): Promise<void>;
    /** A member's withdrawal limits, its merchant's (PayoutBooks.memberLimits); absent: the defaults. */
    memberLimits?(merchant_id: string): MemberLimits;
    /** The payout's cross-process lock around its provider calls (PayoutBooks.exclusive). */
    exclusive?<T>(payout_id: string, work: () => Promise<T>): Promise<T>;
  };
  /** The channels that pay out, by id, in the order a default is picked. */
  channels: ReadonlyMap<string, PayoutChannel>;
  sealer: Sealer;
  id_key: IdKey;
  /** Delay before each follow-up of an open payout; past the last, REQUIRES_MANUAL. */
  query_backoff_ms: readonly number[];
  /** After success, when to ask whether it was returned (one check per entry). */
  return_watch_ms: readonly number[];
  log: Logger;
  now(): Date;
  /** A refund's payout succeeded: record it on the refund (the orders module). Repeated after
   * every step that finds it SUCCEEDED, so a crash before it is repaired by the follow-up. */
  onRefundPaid?(state: PayoutState): Promise<void>;
}

const conflict_retries_max = 3;

export class PayoutService {
  readonly #mailboxes = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: PayoutServiceDeps) {}

  get channel_ids(): string[] {
    return [...this.deps.channels.keys()];
  }

  /** CreatePayout: idempotent on (merchant_id, merchant_payout_no). */
  async create(request: CreatePayout): Promise<PayoutState> {
    const channel_id = request.channel_id ?? this.channel_ids[0];
    if (channel_id === undefined || !this.deps.channels.has(channel_id)) {
      throw new PaycoreError('INVALID_FIELD', `channel_id: ${channel_id === undefined ? 'no channel of this paycore pays out' : `${channel_id} does not pay out`}`, [{ field: 'channel_id', description: 'must name a channel that pays out' }]);
    }
    if (request.member_id !== undefined) checkWithdrawal(this.deps.books.memberLimits?.(request.merchant_id) ?? member_limits_default, request.amount_minor);
    const payout_id = payoutId(this.deps.id_key, request.merchant_id, request.merchant_payout_no);
    const input: PayoutInput = {
      merchant_id: request.merchant_id, merchant_payout_no: request.merchant_payout_no, amount_minor: request.amount_minor, currency: request.currency,
      channel_id, bank_code: request.bank_code, payee_sealed: this.deps.sealer.seal(request.payee), payee_last4: request.payee.account_no.slice(-4),
      purpose: request.purpose,
      ...(request.refund === undefined ? {} : { refund: request.refund }),
      ...(request.member_id === undefined ? {} : { member_id: request.member_id }),
    };
    return this.#serial(payout_id, async () => {
      let loaded = await this.deps.store.load(payout_id);
      // The follow-up first: whatever happens next, the payout is driven to an end.
      if (loaded === undefined) await this.#schedule({ payout_id, round: 0, kind: 'follow_up' });
      loaded = await this.#apply(payout_id, loaded, { type: 'create', payout_id, input, at: this.#at() });
      return (await this.#advance(loaded, 'submit')).state;
    });
  }

  /** The payout under a merchant's key, if there is one. */
  async find(merchant_id: string, merchant_payout_no: string): Promise<PayoutState | undefined> {
    return (await this.deps.store.load(payoutId(this.deps.id_key, merchant_id, merchant_payout_no)))?.state;
  }

  /** GetPayout: another merchant's payout is NOT_FOUND, like a payout that does not exist. */
  async get(merchant_id: string, payout_id: string): Promise<PayoutState> {
    const loaded = await this.deps.store.load(payout_id);
    if (loaded === undefined || loaded.state.merchant_id !== merchant_id) throw new PaycoreError('NOT_FOUND', `no payout ${payout_id}`);
    return loaded.state;
  }

  /** ResolvePayout: an operator settles a REQUIRES_MANUAL payout — paid (with the bank's
   * reference: the books post it sent, a refund's payout is recorded on the refund) or not
   * (the frozen funds released). The PayoutResolved event is the audit record. */
  resolve(merchant_id: string, payout_id: string, resolution: Omit<Extract<PayoutCommand, { type: 'resolve' }>, 'type' | 'at'>): Promise<PayoutState> {
    return this.#serial(payout_id, async () => {
      const loaded = await this.deps.store.load(payout_id);
      if (loaded === undefined || loaded.state.merchant_id !== merchant_id) throw new PaycoreError('NOT_FOUND', `no payout ${payout_id}`);
      const after = await this.#apply(payout_id, loaded, { type: 'resolve', ...resolution, at: this.#at() });
      if (after.state.version !== loaded.state.version) {
        this.deps.log.info({ payout_id, outcome: resolution.outcome, actor: resolution.actor }, 'payout resolved by an operator');
      }
      await this.#settled(after.state);
      if (after.state.status === 'SUCCEEDED' && after.state.version !== loaded.state.version) await this.#watch(payout_id);
      return after.state;
    });
  }

  /** A due timer: drives the payout one step on. */
  followUp(timer: Pick<PayoutFollowUp, 'payout_id' | 'kind' | 'round'>): Promise<void> {
    return this.#serial(timer.payout_id, async () => {
      const loaded = await this.deps.store.load(timer.payout_id);
      if (loaded === undefined) return; // its create never got recorded: nothing to do
      const state = loaded.state;
      if (timer.kind === 'return_watch') {
        if (state.status !== 'SUCCEEDED') return;
        const after = await this.#advance(loaded, 'query', false);
        if (after.state.status === 'SUCCEEDED' && timer.round + 1 < this.deps.return_watch_ms.length) await this.#schedule({ payout_id: state.payout_id, round: timer.round + 1, kind: 'return_watch' });
        return;
      }
      if (state.status === 'PENDING' || state.status === 'PROCESSING') {
        const exhausted = timer.round + 1 >= this.deps.query_backoff_ms.length;
        const after = await this.#advance(loaded, 'query', exhausted);
        if (after.state.status === 'PENDING' || after.state.status === 'PROCESSING') {
          await this.#schedule({ payout_id: state.payout_id, round: timer.round + 1, kind: 'follow_up' });
          return;
        }
        if (after.state.status === 'SUCCEEDED') await this.#watch(state.payout_id);
        return;
      }
      await this.#settled(state);
      if (state.status === 'SUCCEEDED') await this.#watch(state.payout_id);
    });
  }

  async #watch(payout_id: string): Promise<void> {
    if (this.deps.return_watch_ms.length > 0) await this.#schedule({ payout_id, round: 0, kind: 'return_watch' });
  }

  /** From where the payout stands: freeze, write ahead, call or query the provider, record
   * its answer, then post to the books what the state implies. */
  async #advance(loaded: LoadedPayout, mode: 'submit' | 'query', exhausted = false): Promise<LoadedPayout> {
    const id = loaded.state.payout_id;
    if (loaded.state.status === 'PENDING' && !loaded.state.frozen) {
      const freeze = await this.deps.books.freeze(loaded.state);
      loaded = await this.#apply(id, loaded, { type: 'freeze_result', frozen: freeze.frozen, ...(freeze.frozen ? {} : { code: freeze.code, message: freeze.message }), at: this.#at() });
    }
    if (loaded.state.status === 'PENDING' && loaded.state.frozen) {
      loaded = await this.#apply(id, loaded, { type: 'submit', at: this.#at() });
      loaded = await this.#call(loaded, 'submit', exhausted);
    } else if (loaded.state.status === 'PROCESSING' || (loaded.state.status === 'SUCCEEDED' && mode === 'query')) {
      loaded = await this.#call(loaded, 'query', exhausted);
    }
    await this.#settled(loaded.state);
    return loaded;
  }

  /** The books brought in line with the state; a refund's payout, once paid, recorded on the refund. */
  async #settled(state: PayoutState): Promise<void> {
    await this.deps.books.sync(state);
    if (state.status === 'SUCCEEDED' && state.refund !== undefined) {
      if (this.deps.onRefundPaid === undefined) throw new PaycoreError('ILLEGAL_STATE', `payout ${state.payout_id} paid refund ${state.refund.refund_id}, and nothing here records it`);
      await this.deps.onRefundPaid(state);
    }
  }

  /** One provider call and what its answer means. A query that finds no payout after the
   * write-ahead resubmits it (the provider keys it by payout_no: never a second payout). */
  async #call(loaded: LoadedPayout, how: 'submit' | 'query', exhausted: boolean): Promise<LoadedPayout> {
    if (loaded.state.status !== 'PROCESSING' || this.deps.books.exclusive === undefined) return this.#callUnlocked(loaded, how, exhausted);
    // Under the payout's lock, from the log as it is now: another gateway may have moved it on.
    return this.deps.books.exclusive(loaded.state.payout_id, async () => {
      const fresh = (await this.deps.store.load(loaded.state.payout_id)) ?? loaded;
      if (fresh.state.version !== loaded.state.version) return fresh;
      return this.#callUnlocked(fresh, how, exhausted);
    });
  }

  async #callUnlocked(loaded: LoadedPayout, how: 'submit' | 'query', exhausted: boolean): Promise<LoadedPayout> {
    const state = loaded.state;
    const channel = this.deps.channels.get(state.channel_id);
    if (channel === undefined) throw new PaycoreError('ILLEGAL_STATE', `payout ${state.payout_id}: channel ${state.channel_id} does not pay out here`);
    let outcome: PayoutOutcome;
    try {
      outcome = how === 'query' ? await channel.queryPayout(state.payout_id) : await channel.payout(this.#request(state));
      if (outcome.kind === 'not_found' && state.status === 'PROCESSING') {
        // Resubmitted only while it is still PROCESSING in the log: another gateway may have
        // just recorded its refusal (then a resubmission could be the one the bank pays).
        const fresh = await this.deps.store.load(state.payout_id);
        if (fresh !== undefined && fresh.state.status !== 'PROCESSING') return fresh;
        outcome = await channel.payout(this.#request(state));
      }
    } catch (error) {
      if (error instanceof ChannelError && (error.kind === 'rejected' || error.kind === 'unsupported') && state.status === 'PROCESSING' && how === 'submit') {
        // Refused — unless another gateway's resubmission of the same payout_no got through
        // meanwhile (a follow-up racing this submit): the bank knows it then, and says how it stands.
        const known = await channel.queryPayout(state.payout_id).catch(() => undefined);
        if (known !== undefined && known.kind !== 'not_found') {
          return this.#apply(state.payout_id, loaded, { type: 'provider', status: toProviderStatus(known), exhausted, at: this.#at() });
        }
        return this.#apply(state.payout_id, loaded, { type: 'refused', code: error.code, message: error.message, at: this.#at() });
      }
      // Outcome unknown (timeout, 5xx, a refused query): the follow-up timer asks again.
      this.deps.log.warn({ payout_id: state.payout_id, how, err: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }, 'payout call left its outcome open');
      if (!exhausted) return loaded;
      outcome = { kind: 'processing' };
    }
    return this.#apply(state.payout_id, loaded, { type: 'provider', status: toProviderStatus(outcome), exhausted, at: this.#at() });
  }

  #request(state: PayoutState): PayoutRequest {
    const payee = this.deps.sealer.open<Payee>(state.payee_sealed);
    return {
      payout_no: state.payout_id,
      amount_minor: state.amount_minor,
      currency: state.currency,
      bank_code: state.bank_code,
      account_no: payee.account_no,
      account_name: payee.account_name,
      purpose: state.purpose,
    };
  }

  /** decide → append, re-deciding on a fresh load when another writer moved first. */
  async #apply(payout_id: string, loaded: LoadedPayout | undefined, command: PayoutCommand): Promise<LoadedPayout> {
    for (let round = 0; ; round += 1) {
      const decision = decidePayout(loaded?.state, command);
      if ('rejection' in decision) throw new PaycoreError(decision.rejection.reason, decision.rejection.message);
      if (decision.events.length === 0) return loaded!;
      try {
        return await this.deps.store.append(payout_id, loaded, decision.events);
      } catch (error) {
        if (!(error instanceof ConflictError) || round >= conflict_retries_max) throw error;
        loaded = await this.deps.store.load(payout_id);
      }
    }
  }

  async #schedule(timer: Pick<PayoutFollowUp, 'payout_id' | 'kind' | 'round'>): Promise<void> {
    const delays = timer.kind === 'return_watch' ? this.deps.return_watch_ms : this.deps.query_backoff_ms;
    const delay = delays[Math.min(timer.round, delays.length - 1)] ?? 5_000;
    await this.deps.store.schedule({ ...timer, due_at: new Date(this.deps.now().getTime() + delay).toISOString() });
  }

  #at(): string {
    return this.deps.now().toISOString();
  }

  /** One payout's commands, one at a time in arrival order. */
  #serial<T>(payout_id: string, work: () => Promise<T>): Promise<T> {
    const tail = this.#mailboxes.get(payout_id) ?? Promise.resolve();
    const turn = tail.then(work, work);
    const settled = turn.catch(() => undefined);
    this.#mailboxes.set(payout_id, settled);
    void settled.then(() => {
      if (this.#mailboxes.get(payout_id) === settled) this.#mailboxes.delete(payout_id);
    });
    return turn;
  }
}

function toProviderStatus(outcome: PayoutOutcome): ProviderPayoutStatus {
  return outcome.kind === 'succeeded' ? { kind: 'succeeded', channel_payout_no: outcome.channel_payout_no, paid_at: outcome.paid_at.toISOString() } : outcome;
}
