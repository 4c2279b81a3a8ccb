// The list of payments held for review, for RiskAdminService: a Redis hash
// `{<prefix>:risk}:held` payment_id → JSON, written by the actor after PaymentHeld is durable
// and removed once the payment is released, rejected or closed. The payment's event log is
// the truth (a held payment expires by its own timer whatever this list says); a Redis that
// lost the list loses only the listing of payments held before.

import type { RedisClient } from '../connections';
import { dependencyFailure } from '../errors';

export interface HeldPayment {
  payment_id: string;
  merchant_id: string;
  product: string;
  amount_minor: string;
  currency: string;
  rules: string[];
  held_at: string;
  review_expires_at: string;
}

export class HeldIndex {
  constructor(private readonly redis: RedisClient, private readonly prefix: string) {}

  get #key(): string {
    return `{${this.prefix}:risk}:held`;
  }

  async add(held: HeldPayment): Promise<void> {
    await this.#call(() => this.redis.hset(this.#key, held.payment_id, JSON.stringify(held)));
  }

  async remove(payment_id: string): Promise<void> {
    await this.#call(() => this.redis.hdel(this.#key, payment_id));
  }

  /** Oldest first. */
  async list(): Promise<HeldPayment[]> {
    const all = await this.#call(() => this.redis.hgetall(this.#key));
    return Object.values(all).map((text) => JSON.parse(text) as HeldPayment).sort((a, b) => (a.held_at < b.held_at ? -1 : 1));
  }

  async #call<T>(step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (error) {
      throw dependencyFailure(error, 'Redis');
    }
  }
}
