// The split actor: one mailbox per split (its commands one at a time, in arrival order), every
// state change through decideSplit and the split event log (optimistic concurrency across
// processes), and a durable follow-up timer scheduled before the split is recorded, so that a
// crash at any step is picked up where it stopped (README.md). The books decide whether the
// shares fit (core/ledger/splits.ts); a split the books cannot judge yet (the projection has not
// seen its payment paid) is tried again on each follow-up, and refused after the last.

import { PaycoreError } from '../errors';
import { splitId, type IdKey } from '../ids';
import type { Logger } from '../log';
import type { AllocateResult } from '../ledger/splits';
import { decideSplit } from './decide';
import { ConflictError } from '../orders/store';
import type { LoadedSplit, SplitStore, SplitTimer } from './store';
import type { SplitCommand, SplitInput, SplitState } from './types';

export interface CreateSplit {
  merchant_id: string;
  merchant_split_no: string;
  payment_id: string;
  receivers: SplitInput['receivers'];
  description: string;
}

/** The payment as the event log has it now (the orders module), for the checks at creation. */
export interface PaymentFacts {
  merchant_id: string;
  status: string;
  currency: string;
}

export interface SplitServiceDeps {
  store: Pick<SplitStore, 'load' | 'append' | 'schedule'>;
  books: { allocate(state: SplitState): Promise<AllocateResult>; sync(state: SplitState): Promise<void> };
  payment(payment_id: string): Promise<PaymentFacts | undefined>;
  id_key: IdKey;
  /** Delay before each follow-up of a pending split; past the last, FAILED. */
  follow_up_ms: readonly number[];
  log: Logger;
  now(): Date;
}

const conflict_retries_max = 3;
const paid_statuses = new Set(['SUCCEEDED', 'PARTIALLY_REFUNDED', 'REFUNDED']);

export class SplitService {
  readonly #mailboxes = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: SplitServiceDeps) {}

  /** CreateSplit: idempotent on (merchant_id, merchant_split_no). Another merchant's payment is
   * NOT_FOUND; a payment not paid is refused before anything is recorded. */
  async create(request: CreateSplit): Promise<SplitState> {
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
    const input: SplitInput = { ...request, currency };
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

  /** A due timer: drives a pending split one step on. */
  followUp(timer: Omit<SplitTimer, 'due_at'>): Promise<void> {
    return this.#serial(timer.split_id, async () => {
      const loaded = await this.deps.store.load(timer.split_id);
      if (loaded === undefined) return; // its create never got recorded: nothing to do
      const exhausted = timer.round + 1 >= this.deps.follow_up_ms.length;
      const after = await this.#advance(loaded, exhausted);
      if (after.state.status === 'PENDING') await this.#schedule({ split_id: timer.split_id, round: timer.round + 1 });
    });
  }

  /** Asks the books to post the shares (unless finished) and records their answer. */
  async #advance(loaded: LoadedSplit, exhausted: boolean): Promise<LoadedSplit> {
    const id = loaded.state.split_id;
    if (loaded.state.status === 'PENDING') {
      const result = await this.deps.books.allocate(loaded.state);
      if (result.kind === 'allocated') loaded = await this.#apply(id, loaded, { type: 'allocated', at: this.#at() });
      else if (result.kind === 'refused') loaded = await this.#apply(id, loaded, { type: 'refused', code: result.code, message: result.message, at: this.#at() });
      else if (exhausted) loaded = await this.#apply(id, loaded, { type: 'refused', code: 'PAYMENT_NOT_SETTLED', message: result.message, at: this.#at() });
    }
    await this.deps.books.sync(loaded.state);
    return loaded;
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
