// The split actor: one mailbox per split (its commands one at a time, in arrival order), every
// state change through decideSplit and the split event log (optimistic concurrency across
// processes), and a durable follow-up timer scheduled before the split is recorded, so that a
// crash at any step is picked up where it stopped (README.md). The books decide whether the
// shares fit (core/ledger/splits.ts); a split the books cannot judge yet (the projection has not
// seen its payment paid) is tried again on each follow-up, and refused after the last.

import { invalidFields, PaycoreError } from '../errors';
import type { Sealer } from '../seal';
import { isSplitId, splitId, type IdKey } from '../ids';
import type { Logger } from '../log';
import type { AllocateResult, OrphanClaim, ReturnPlan } from '../ledger/splits';
import type { PaymentState } from '../events/types';
import { decideSplit } from './decide';
import { ConflictError } from '../orders/store';
import { ChannelError, type ProductName, type ProfitSharing, type ShareOutcome, type ShareRequest, type ShareReturnLine, type ShareReturnOutcome } from '../../channels/channel';
import type { LoadedSplit, SplitStore, SplitTimer } from './store';
import type { SplitChannel, SplitCommand, SplitInput, SplitReturn, SplitState } from './types';

export interface CreateSplit {
  merchant_id: string;
  merchant_split_no: string;
  payment_id: string;
  /** name: the receiver's registered name at the channel, in clear (sealed before it is recorded). */
  receivers: (Omit<SplitInput['receivers'][number], 'name_sealed'> & { name?: string })[];
  description: string;
  /** The last split of the payment: the channel unfreezes what it leaves unsplit. */
  finish?: boolean;
}

/** The payment as the event log has it now (the orders module), for the checks at creation and
 * the channel that made it. */
export type PaymentFacts = Pick<PaymentState, 'merchant_id' | 'status' | 'currency' | 'amount_minor' | 'product' | 'attempts' | 'winning_attempt_id' | 'refunds'>;

/** The books' side (books.ts). */
interface SplitBooksPort {
  allocate(state: SplitState): Promise<AllocateResult>;
  /** The query row, and for a channel split the provider's answer in the books (in-flight
   * shares confirmed or released, refused returns given back). */
  sync(state: SplitState): Promise<void>;
  planReturns(payment_id: string, refund_id: string, amount_minor: bigint): Promise<ReturnPlan>;
  /** Gives back the channel shares taken for a refund that was never created. */
  releaseReturns(payment_id: string, refund_id: string): Promise<void>;
  orphanClaims(after_ms: number, limit: number): Promise<OrphanClaim[]>;
  releaseOrphan(payment_id: string, claim: OrphanClaim, give_back: readonly { split_id: string; line_no: number }[]): Promise<boolean>;
}

export interface SplitServiceDeps {
  store: Pick<SplitStore, 'load' | 'append' | 'schedule'>;
  books: SplitBooksPort;
  payment(payment_id: string): Promise<PaymentFacts | undefined>;
  /** The channels whose provider makes splits (profit sharing), by id. */
  channels: ReadonlyMap<string, ProfitSharing>;
  id_key: IdKey;
  /** Delay before each follow-up of a pending split; past the last, FAILED. A split at the
   * channel is queried on at the last delay. */
  follow_up_ms: readonly number[];
  /** Follow-up queries of a split the provider keeps PROCESSING before it is REQUIRES_MANUAL;
   * a return, the time that many follow-ups take (returns of one split share its timers). */
  stall_queries: number;
  log: Logger;
  now(): Date;
  /** Seals receivers' names before they are recorded, and opens them for the provider. */
  sealer: Sealer;
}

const conflict_retries_max = 3;
/** Orphan claims looked at per sweep. */
const orphan_batch_max = 100;
const paid_statuses = new Set(['SUCCEEDED', 'PARTIALLY_REFUNDED', 'REFUNDED']);

export class SplitService {
  readonly #mailboxes = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: SplitServiceDeps) {}

  /** CreateSplit: idempotent on (merchant_id, merchant_split_no). Another merchant's payment is
   * NOT_FOUND; a payment not paid is refused before anything is recorded. */
  async create(request: CreateSplit, options: { require_names?: boolean } = {}): Promise<SplitState> {
    const split_id = splitId(this.deps.id_key, request.merchant_id, request.merchant_split_no);
    const existing = await this.deps.store.load(split_id);
    const payment = existing === undefined ? await this.deps.payment(request.payment_id) : undefined;
    if (existing === undefined) {
      if (payment === undefined || payment.merchant_id !== request.merchant_id) {
        throw new PaycoreError('NOT_FOUND', `payment_id: no payment ${request.payment_id}`, [{ field: 'payment_id', description: 'names no payment of this merchant' }]);
      }
      if (!paid_statuses.has(payment.status)) {
        throw new PaycoreError('ILLEGAL_STATE', `payment_id: payment ${request.payment_id} is ${payment.status}; only a paid payment is split`, [{ field: 'payment_id', description: 'must be paid' }]);
      }
    }
    const currency = existing?.state.currency ?? payment!.currency;
    const members = request.receivers.filter((r) => r.member === true).length;
    // Shares to member wallets are made in the books only: on a payment split at its channel, a
    // split naming members names only members and is not the channel's last (finish).
    let channel = existing === undefined ? this.#channelOf(payment!) : existing.state.channel;
    if (existing === undefined && members > 0 && channel !== undefined) {
      if (members < request.receivers.length) {
        throw new PaycoreError('INVALID_FIELD', 'receivers: a split of a payment split at its channel names members only or no members', [{ field: 'receivers', description: 'must not mix members (in the books) with receivers at the channel: make two splits' }]);
      }
      if (request.finish === true) {
        throw new PaycoreError('INVALID_FIELD', 'finish: a split to members is made in the books; finish the payment at its channel with a split of no receivers', [{ field: 'finish', description: 'must be false when the receivers are members' }]);
      }
      channel = undefined;
    }
    const names_required = channel !== undefined && this.deps.channels.get(channel.channel_id)?.receiver_name_required === true;
    if (existing === undefined && names_required && options.require_names !== false) {
      const why = `is required: channel ${channel!.channel_id} needs each receiver's registered name (WeChat: the merchant's full name)`;
      const unnamed = request.receivers.flatMap((r, i) => ((r.name ?? '') === '' ? [{ field: `receivers[${i}].name`, description: why }] : []));
      if (unnamed.length > 0) throw invalidFields(unnamed);
    }
    const { finish, receivers, ...rest } = request;
    const sealed = receivers.map(({ name, ...r }) => ((name ?? '') === '' ? r : { ...r, name_sealed: this.deps.sealer.seal(name) }));
    const input: SplitInput = { ...rest, receivers: sealed, currency, ...(channel === undefined ? {} : { channel }), ...(finish === true ? { finish } : {}) };
    return this.#serial(split_id, async () => {
      let loaded = await this.deps.store.load(split_id);
      // The follow-up first: whatever happens next, the split is driven to an end.
      if (loaded === undefined) await this.#schedule({ split_id, round: 0 });
      loaded = await this.#apply(split_id, loaded, { type: 'create', split_id, input, at: this.#at() });
      return (await this.#advance(loaded, false)).state;
    });
  }

  /** GetSplit: another merchant's split is NOT_FOUND, like a split that does not exist. */
  async get(merchant_id: string, split_id: string): Promise<SplitState> {
    const loaded = await this.deps.store.load(split_id);
    if (loaded === undefined || loaded.state.merchant_id !== merchant_id) throw new PaycoreError('NOT_FOUND', `no split ${split_id}`);
    return loaded.state;
  }

  /** A due timer: drives an open split (or its open returns) one step on. */
  followUp(timer: Omit<SplitTimer, 'due_at'>): Promise<void> {
    return this.#serial(timer.split_id, async () => {
      const loaded = await this.deps.store.load(timer.split_id);
      if (loaded === undefined) return; // its create never got recorded: nothing to do
      const exhausted = timer.round + 1 >= this.deps.follow_up_ms.length;
      let after = await this.#advance(loaded, exhausted);
      if (after.state.status === 'PROCESSING' && timer.round + 1 >= this.deps.stall_queries) {
        after = await this.#apply(timer.split_id, after, { type: 'stalled', queries: timer.round + 1, at: this.#at() });
        await this.deps.books.sync(after.state);
        this.deps.log.error({ split_id: timer.split_id, queries: timer.round + 1 }, 'split REQUIRES_MANUAL: the channel left it PROCESSING through the bound of queries; still queried');
      }
      after = await this.#stallReturns(after);
      if (isOpen(after.state)) await this.#schedule({ split_id: timer.split_id, round: timer.round + 1 });
    });
  }

  /** A verified profit-sharing callback of the split's channel (WeChat 分账动账通知) about
   * `share_no`: a split id, or a return's number `<refund_id>_<split_id>_<line>`. A trigger only,
   * never the result (it tells one receiver's movement): the split at the channel, or its open
   * returns, are queried now, as a follow-up would, and recorded; a finished split is not asked
   * again (a duplicate changes nothing). False when the split is not one paycore made on that
   * channel and transaction: the callback is refused. The follow-up timers go on regardless. */
  async notified(channel_id: string, share_no: string, channel_trade_no: string): Promise<boolean> {
    const split_id = isSplitId(share_no) ? share_no : return_no_pattern.exec(share_no)?.[1];
    if (split_id === undefined) return false;
    return this.#serial(split_id, async () => {
      const loaded = await this.deps.store.load(split_id);
      const channel = loaded?.state.channel;
      if (loaded === undefined || channel === undefined || channel.channel_id !== channel_id || channel.channel_trade_no !== channel_trade_no) return false;
      if (loaded.state.status !== 'PENDING' && isOpen(loaded.state)) await this.#advance(loaded, false);
      return true;
    });
  }

  /** ResolveSplitReturn: an operator settles a REQUIRES_MANUAL return from what the provider
   * said — returned (the books already have the share back) or not (the share is the
   * receiver's again: the books follow) — recorded with who and why. Final: no more queries.
   * Another merchant's split is NOT_FOUND. */
  resolveReturn(
    merchant_id: string, split_id: string, refund_id: string, line_no: number, resolution: { returned: boolean; actor: string; reason: string },
  ): Promise<SplitState> {
    return this.#serial(split_id, async () => {
      const loaded = await this.deps.store.load(split_id);
      if (loaded === undefined || loaded.state.merchant_id !== merchant_id) throw new PaycoreError('NOT_FOUND', `no split ${split_id}`);
      const return_no = returnNo(refund_id, split_id, line_no);
      const after = await this.#apply(split_id, loaded, { type: 'return_resolved', return_no, ...resolution, at: this.#at() });
      await this.deps.books.sync(after.state);
      if (after !== loaded) this.deps.log.warn({ split_id, return_no, refund_id, returned: resolution.returned, actor: resolution.actor }, 'split return resolved by an operator');
      return after.state;
    });
  }

  /** Returns through the provider the shares the books took back for a refund of a payment
   * split at its channel (分账回退, before the refund). Answers once every return succeeded;
   * refuses the refund when one failed or the provider is still making a split of the
   * payment; DEPENDENCY_DOWN while a return is open (its follow-up settles it: retry the
   * refund with the same key). Nothing to do for a payment split in the books only.
   *
   * A channel that takes shares back inside the refund (ProfitSharing.returns_in_refund,
   * Alipay): no return call here; the shares the books took back are answered, one line per
   * receiver account, for the refund to carry (RefundInput.share_returns). The same refund
   * again answers the same lines. */
  async returnForRefund(merchant_id: string, payment_id: string, refund_id: string, amount_minor: bigint): Promise<ShareReturnLine[] | undefined> {
    if (this.deps.channels.size === 0) return undefined; // no channel makes splits here: nothing to load
    const payment = await this.deps.payment(payment_id);
    const channel = payment === undefined ? undefined : this.#channelOf(payment);
    if (payment === undefined || payment.merchant_id !== merchant_id || channel === undefined) return undefined;
    // A refund the order actor will refuse (not refundable, more than is left) takes nothing back.
    if (!refundable(payment, amount_minor)) return undefined;
    const plan = await this.deps.books.planReturns(payment_id, refund_id, amount_minor);
    if (plan.kind === 'in_flight') {
      throw new PaycoreError('ILLEGAL_STATE', `split ${plan.split_id} of the payment is still being made at the channel; retry the refund with the same merchant_refund_no once it finished`);
    }
    if (this.deps.channels.get(channel.channel_id)?.returns_in_refund === true) return carriedLines(plan.returns);
    const by_split = new Map<string, { line_no: number; amount_minor: bigint }[]>();
    for (const line of plan.returns) {
      by_split.set(line.split_id, [...(by_split.get(line.split_id) ?? []), { line_no: line.line_no, amount_minor: line.amount_minor }]);
    }
    for (const [split_id, lines] of by_split) {
      const state = await this.#returnShares(split_id, refund_id, lines);
      for (const line of lines) {
        const done = state.returns.find((r) => r.return_no === returnNo(refund_id, split_id, line.line_no));
        if (done?.status === 'FAILED' && done.resolved !== undefined) {
          throw new PaycoreError('ILLEGAL_STATE', `an operator resolved the return of receiver ${line.line_no} of split ${split_id} as not returned (${done.failure?.code ?? 'FAILED'}): the refund is not made`);
        }
        if (done?.status === 'FAILED') throw new PaycoreError('ILLEGAL_STATE', `the channel refused to return receiver ${line.line_no} of split ${split_id} (${done.failure?.code ?? 'FAILED'}): the refund is not made`);
        if (done?.status === 'REQUIRES_MANUAL') {
          throw new PaycoreError('ILLEGAL_STATE', `the return of receiver ${line.line_no} of split ${split_id} is REQUIRES_MANUAL: the channel has not answered it through the bound of queries (an operator looks at it with the channel; paycore still queries it). The refund is not made until the channel answers; then retry it with the same merchant_refund_no`);
        }
        if (done?.status !== 'SUCCEEDED') throw new PaycoreError('DEPENDENCY_DOWN', `the channel has not answered the return of split ${split_id} yet; retry the refund with the same merchant_refund_no`);
      }
    }
    return undefined;
  }

  /** The order actor refused a refund that was to carry shares back (returns_in_refund): the
   * refund does not exist, so the shares the books took back for it are the receivers' again
   * (SPLIT_RETURN_REVERSED) and its claim is dropped. Repeatable. */
  async releaseCarried(payment_id: string, refund_id: string): Promise<void> {
    await this.deps.books.releaseReturns(payment_id, refund_id);
  }

  /** The orphan sweep (README.md, "Orphan return claims"): a refund's claim on a payment split at
   * its channel, last claimed more than after_ms ago, whose refund the order's log does not have
   * (the gateway stopped between the books' returns and the order actor, and the merchant never
   * retried) is given back. Shares a channel takes back inside the refund (Alipay) were never
   * taken at the channel: all go back to their receivers. Shares returned by separate calls
   * (WeChat): one never asked goes back, one the channel returned stays returned (the money is
   * the merchant's there), one refused is the receiver's; while one is still open the
   * claim waits. The claim then no longer holds the amount out of later splits; a retry of the
   * same refund plans anew. Safe in every gateway: the books give back only a claim unchanged
   * since it was read, under the payment's row lock. Answers how many were given back. */
  async sweepOrphanClaims(after_ms: number): Promise<number> {
    let released = 0;
    for (const claim of await this.deps.books.orphanClaims(after_ms, orphan_batch_max)) {
      const payment = await this.deps.payment(claim.payment_id);
      // The refund exists (the books have not seen it yet): not an orphan.
      if (payment === undefined || payment.refunds.some((r) => r.refund_id === claim.refund_id)) continue;
      const channel = this.#channelOf(payment);
      const in_refund = channel !== undefined && this.deps.channels.get(channel.channel_id)?.returns_in_refund === true;
      const give_back: { split_id: string; line_no: number }[] = [];
      let open = false;
      for (const line of claim.returns) {
        if (in_refund) {
          give_back.push(line);
          continue;
        }
        const state = (await this.deps.store.load(line.split_id))?.state;
        const asked = state?.returns.find((r) => r.return_no === returnNo(claim.refund_id, line.split_id, line.line_no));
        // Never asked, or refused (given back by the split's own sync too; repeatable): the receiver's.
        if (asked === undefined || asked.status === 'FAILED') give_back.push(line);
        else if (asked.status !== 'SUCCEEDED') open = true;
      }
      if (open) continue; // its follow-ups settle the return first
      if (await this.deps.books.releaseOrphan(claim.payment_id, claim, give_back)) {
        released += 1;
        this.deps.log.warn({ payment_id: claim.payment_id, refund_id: claim.refund_id, given_back: give_back.length }, 'refund claim given back: its refund was never created');
      }
    }
    return released;
  }

  /** The returns still open when the follow-ups of the bound would have been made since each was
   * asked: REQUIRES_MANUAL, logged at error level (still queried). */
  async #stallReturns(loaded: LoadedSplit): Promise<LoadedSplit> {
    const delays = this.deps.follow_up_ms;
    let bound_ms = 0;
    for (let round = 0; round < this.deps.stall_queries; round += 1) bound_ms += delays[Math.min(round, delays.length - 1)] ?? 0;
    const now = this.deps.now().getTime();
    for (const open of loaded.state.returns) {
      if (open.status !== 'PROCESSING' || open.requested_at === undefined || now < Date.parse(open.requested_at) + bound_ms) continue;
      loaded = await this.#apply(loaded.state.split_id, loaded, { type: 'return_stalled', return_no: open.return_no, at: this.#at() });
      this.deps.log.error({ split_id: loaded.state.split_id, return_no: open.return_no, refund_id: open.refund_id }, 'split return REQUIRES_MANUAL: the channel left it open through the bound of queries; its refund is refused until it answers; still queried');
    }
    return loaded;
  }

  #returnShares(split_id: string, refund_id: string, lines: readonly { line_no: number; amount_minor: bigint }[]): Promise<SplitState> {
    return this.#serial(split_id, async () => {
      let loaded = await this.deps.store.load(split_id);
      if (loaded === undefined) throw new PaycoreError('INTERNAL', `split ${split_id} has shares in the books and no event log`);
      // The follow-up first: whatever happens next, the returns are driven to an end.
      await this.#schedule({ split_id, round: 0 });
      for (const line of lines) {
        loaded = await this.#apply(split_id, loaded, { type: 'return', return_no: returnNo(refund_id, split_id, line.line_no), refund_id, line_no: line.line_no, amount_minor: line.amount_minor, at: this.#at() });
      }
      return (await this.#advance(loaded, false)).state;
    });
  }

  /** From where the split stands: allocate in the books, write ahead and ask the provider (a
   * channel split), query it, settle open returns; then the books brought in line. */
  async #advance(loaded: LoadedSplit, exhausted: boolean): Promise<LoadedSplit> {
    const id = loaded.state.split_id;
    let submitted = false;
    if (loaded.state.status === 'PENDING') {
      const result = await this.deps.books.allocate(loaded.state);
      if (result.kind === 'allocated') {
        loaded = await this.#apply(id, loaded, { type: 'allocated', at: this.#at() });
        submitted = loaded.state.status === 'PROCESSING';
      } else if (result.kind === 'refused') loaded = await this.#apply(id, loaded, { type: 'refused', code: result.code, message: result.message, at: this.#at() });
      else if (exhausted) loaded = await this.#apply(id, loaded, { type: 'refused', code: 'PAYMENT_NOT_SETTLED', message: result.message, at: this.#at() });
    }
    if (loaded.state.status === 'PROCESSING' || loaded.state.status === 'REQUIRES_MANUAL') loaded = await this.#share(loaded, submitted);
    for (const open of loaded.state.returns.filter(isOpenReturn)) loaded = await this.#settleReturn(loaded, open);
    await this.deps.books.sync(loaded.state);
    return loaded;
  }

  /** The provider call of a channel split after its write-ahead: the order (out_order_no = the
   * split id, so a resend is the same order), or a query; a query that finds no order sends it. */
  async #share(loaded: LoadedSplit, submit: boolean): Promise<LoadedSplit> {
    const state = loaded.state;
    const sharing = this.#sharing(state);
    const request = shareRequest(state, this.deps.sealer);
    let outcome: ShareOutcome;
    try {
      outcome = submit ? await sharing.share(request) : await sharing.queryShare(request);
      if (outcome.kind === 'not_found') outcome = await sharing.share(request);
    } catch (error) {
      if (error instanceof ChannelError && (error.kind === 'rejected' || error.kind === 'unsupported')) {
        return this.#apply(state.split_id, loaded, { type: 'refused', code: error.code, message: error.message, at: this.#at() });
      }
      // Outcome unknown (timeout, 5xx): the follow-up asks again.
      this.deps.log.warn({ split_id: state.split_id, err: describe(error) }, 'split: the channel left its outcome open');
      return loaded;
    }
    if (outcome.kind !== 'finished') return loaded;
    return this.#apply(state.split_id, loaded, { type: 'shared', channel_split_no: outcome.channel_share_no, received: outcome.received, at: this.#at() });
  }

  /** One open return: asked (again: the provider keys it by out_return_no) or queried. */
  async #settleReturn(loaded: LoadedSplit, open: SplitReturn): Promise<LoadedSplit> {
    const state = loaded.state;
    const sharing = this.#sharing(state);
    const receiver = state.receivers[open.line_no - 1]!;
    let outcome: ShareReturnOutcome;
    try {
      outcome = await sharing.queryReturn(open.return_no, state.split_id);
      if (outcome.kind === 'not_found') {
        outcome = await sharing.returnShare({
          return_no: open.return_no, share_no: state.split_id, channel_share_no: state.channel_split_no ?? '', account: receiver.receiver_id,
          amount_minor: open.amount_minor, description: 'refund',
        });
      }
    } catch (error) {
      if (error instanceof ChannelError && (error.kind === 'rejected' || error.kind === 'unsupported')) outcome = { kind: 'failed', code: error.code, message: error.message };
      else {
        this.deps.log.warn({ split_id: state.split_id, return_no: open.return_no, err: describe(error) }, 'split return: the channel left its outcome open');
        return loaded;
      }
    }
    if (outcome.kind === 'processing' || outcome.kind === 'not_found') return loaded;
    const settled = outcome.kind === 'succeeded' ? { succeeded: true } : { succeeded: false, code: outcome.code, message: outcome.message };
    return this.#apply(state.split_id, loaded, { type: 'return_settled', return_no: open.return_no, ...settled, at: this.#at() });
  }

  #sharing(state: SplitState): ProfitSharing {
    const sharing = this.deps.channels.get(state.channel!.channel_id);
    if (sharing === undefined) throw new PaycoreError('ILLEGAL_STATE', `split ${state.split_id}: channel ${state.channel!.channel_id} makes no splits here`);
    return sharing;
  }

  /** The paid attempt's channel, when its provider makes splits. */
  #channelOf(payment: PaymentFacts): SplitChannel | undefined {
    const attempt = payment.attempts.find((a) => a.attempt_id === payment.winning_attempt_id);
    if (attempt === undefined || attempt.channel_trade_no === undefined || !this.deps.channels.has(attempt.channel_id)) return undefined;
    const { channel_id, attempt_id, channel_trade_no } = attempt;
    return { channel_id, attempt_id, channel_trade_no, product: payment.product, amount_minor: payment.amount_minor };
  }

  /** decide → append, re-deciding on a fresh load when another writer moved first. */
  async #apply(split_id: string, loaded: LoadedSplit | undefined, command: SplitCommand): Promise<LoadedSplit> {
    for (let round = 0; ; round += 1) {
      const decision = decideSplit(loaded?.state, command);
      if ('rejection' in decision) throw new PaycoreError(decision.rejection.reason, decision.rejection.message);
      if (decision.events.length === 0) return loaded!;
      try {
        return await this.deps.store.append(split_id, loaded, decision.events);
      } catch (error) {
        if (!(error instanceof ConflictError) || round >= conflict_retries_max) throw error;
        loaded = await this.deps.store.load(split_id);
      }
    }
  }

  async #schedule(timer: Omit<SplitTimer, 'due_at'>): Promise<void> {
    const delays = this.deps.follow_up_ms;
    const delay = delays[Math.min(timer.round, delays.length - 1)] ?? 5_000;
    await this.deps.store.schedule({ ...timer, due_at: new Date(this.deps.now().getTime() + delay).toISOString() });
  }

  #at(): string {
    return this.deps.now().toISOString();
  }

  /** One split's commands, one at a time in arrival order. */
  #serial<T>(split_id: string, work: () => Promise<T>): Promise<T> {
    const tail = this.#mailboxes.get(split_id) ?? Promise.resolve();
    const turn = tail.then(work, work);
    const settled = turn.catch(() => undefined);
    this.#mailboxes.set(split_id, settled);
    void settled.then(() => {
      if (this.#mailboxes.get(split_id) === settled) this.#mailboxes.delete(split_id);
    });
    return turn;
  }
}

/** The order actor's own rule (core/orders decideCreateRefund): a paid payment, and no more than
 * the amount less its merchant refunds not failed. */
function refundable(payment: PaymentFacts, amount_minor: bigint): boolean {
  if (payment.status !== 'SUCCEEDED' && payment.status !== 'PARTIALLY_REFUNDED') return false;
  let held = 0n;
  for (const refund of payment.refunds) if (refund.kind === 'merchant' && refund.state !== 'FAILED') held += refund.amount_minor;
  return amount_minor <= payment.amount_minor - held;
}

function isOpen(state: SplitState): boolean {
  return state.status === 'PENDING' || state.status === 'PROCESSING' || state.status === 'REQUIRES_MANUAL' || state.returns.some(isOpenReturn);
}

function isOpenReturn(r: SplitReturn): boolean {
  return r.status === 'PROCESSING' || r.status === 'REQUIRES_MANUAL';
}

/** A return's number (below): the split id is its middle part. */
const return_no_pattern = /^[A-Za-z0-9]+_(s[a-z2-7]{25})_[0-9]+$/;

/** The shares a refund carries (returns_in_refund): one line per receiver account, in the
 * order the books took them, summed across splits (the provider names a receiver once). */
function carriedLines(returns: readonly { receiver_id: string; amount_minor: bigint }[]): ShareReturnLine[] {
  const lines = new Map<string, bigint>();
  for (const r of returns) lines.set(r.receiver_id, (lines.get(r.receiver_id) ?? 0n) + r.amount_minor);
  return [...lines].map(([account, amount_minor]) => ({ account, amount_minor }));
}

/** out_return_no: one return per refund, split and receiver line (at most 55 characters). */
function returnNo(refund_id: string, split_id: string, line_no: number): string {
  return `${refund_id}_${split_id}_${line_no}`;
}

function shareRequest(state: SplitState, sealer: Sealer): ShareRequest {
  const channel = state.channel!;
  return {
    share_no: state.split_id, channel_trade_no: channel.channel_trade_no, description: state.description, finish: state.finish === true,
    attempt: {
      attempt_id: channel.attempt_id, payment_id: state.payment_id, product: channel.product as ProductName,
      amount_minor: channel.amount_minor, currency: state.currency,
    },
    receivers: state.receivers.map((r) => ({
      account: r.receiver_id, amount_minor: r.amount_minor, description: state.description || 'split',
      ...(r.name_sealed === undefined ? {} : { name: sealer.open<string>(r.name_sealed) }),
    })),
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
