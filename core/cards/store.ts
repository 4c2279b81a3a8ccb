// Card bindings (绑卡) and the cards they bound, in a JetStream KV bucket `<PREFIX>_CARDS`
// (file storage, replicated like the event streams): durable, shared by every gateway, and
// written under compare-and-set so two calls on one binding cannot both move it.
//
// Keys: `b.<binding_id>` → a binding; `c.<merchant_id>.<token digest>` → a bound card. The
// digest (HMAC under a key derived from PAYCORE_DATA_KEY) keeps card tokens out of subjects.
// The card's verification elements are held sealed (core/seal.ts), never in clear.

import { createHmac } from 'node:crypto';
import type { JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { dependencyFailure } from '../errors';

type BindingStatus = 'SMS_SENT' | 'BOUND' | 'FAILED';

export interface Binding {
  binding_id: string;
  merchant_id: string;
  payer_id: string;
  channel_id: string;
  /** The provider's order time (UnionPay keys an opening by orderId + txnTime). */
  requested_at: string;
  /** The CardElements, AES-256-GCM sealed. */
  card_sealed: string;
  card_last4: string;
  phone_hint: string;
  status: BindingStatus;
  wrong_codes: number;
  card_token?: string;
  failure?: { code: string; message: string };
  /** SHA-256 of the request: a replay with other elements is IDEMPOTENCY_KEY_REUSED. */
  fingerprint: string;
  created_at: string;
  updated_at: string;
}

export interface BoundCard {
  card_token: string;
  merchant_id: string;
  payer_id: string;
  channel_id: string;
  card_last4: string;
  binding_id: string;
  bound_at: string;
  /** ACTIVE until UnbindCard. */
  status: 'ACTIVE' | 'UNBOUND';
}

export function cardsBucket(prefix: string): string {
  return `${prefix.toUpperCase().replace(/[^A-Z0-9_-]/g, '_')}_CARDS`;
}

export class CardStore {
  private constructor(private readonly kv: KV, private readonly digest_key: Buffer) {}

  static async open(js: JetStreamClient, prefix: string, data_key: Buffer, replicas = 1): Promise<CardStore> {
    const kv = await new Kvm(js).create(cardsBucket(prefix), { history: 1, storage: 'file', replicas });
    return new CardStore(kv, createHmac('sha256', data_key).update('paycore card token digests v1').digest());
  }

  #cardKey(merchant_id: string, card_token: string): string {
    return `c.${merchant_id}.${createHmac('sha256', this.digest_key).update(card_token).digest('base64url').slice(0, 32)}`;
  }

  async binding(binding_id: string): Promise<{ binding: Binding; revision: number } | undefined> {
    const entry = await this.#call(() => this.kv.get(`b.${binding_id}`));
    if (entry === null || entry.operation !== 'PUT') return undefined;
    return { binding: entry.json<Binding>(), revision: entry.revision };
  }

  /** Writes a binding: created when `revision` is 0, else only over that revision (false: another
   * call moved it first). */
  async putBinding(binding: Binding, revision: number): Promise<boolean> {
    try {
      if (revision === 0) await this.kv.create(`b.${binding.binding_id}`, JSON.stringify(binding));
      else await this.kv.update(`b.${binding.binding_id}`, JSON.stringify(binding), revision);
      return true;
    } catch (error) {
      if (/wrong last sequence|key exists/i.test(String(error))) return false;
      throw dependencyFailure(error, 'NATS');
    }
  }

  async card(merchant_id: string, card_token: string): Promise<BoundCard | undefined> {
    const entry = await this.#call(() => this.kv.get(this.#cardKey(merchant_id, card_token)));
    if (entry === null || entry.operation !== 'PUT') return undefined;
    return entry.json<BoundCard>();
  }

  async putCard(card: BoundCard): Promise<void> {
    await this.#call(() => this.kv.put(this.#cardKey(card.merchant_id, card.card_token), JSON.stringify(card)));
  }

  /** A merchant's cards, optionally of one payer (a scan of the merchant's keys). */
  async cards(merchant_id: string, payer_id?: string): Promise<BoundCard[]> {
    const keys: string[] = [];
    await this.#call(async () => {
      for await (const key of await this.kv.keys(`c.${merchant_id}.>`)) keys.push(key);
    });
    const cards: BoundCard[] = [];
    for (const key of keys) {
      const entry = await this.#call(() => this.kv.get(key));
      if (entry === null || entry.operation !== 'PUT') continue;
      const card = entry.json<BoundCard>();
      if (card.status === 'ACTIVE' && (payer_id === undefined || card.payer_id === payer_id)) cards.push(card);
    }
    return cards.sort((a, b) => (a.bound_at < b.bound_at ? -1 : 1));
  }

  async #call<T>(step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (error) {
      throw dependencyFailure(error, 'NATS');
    }
  }
}
