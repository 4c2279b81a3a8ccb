// In-flight deliveries, bounded per merchant and per process, so that one slow merchant
// holds at most its own few slots and every other merchant keeps being served.

import { assert } from '../errors';

export class InflightBounds {
  private readonly per_merchant = new Map<string, number>();
  private total = 0;

  constructor(
    private readonly per_merchant_max: number,
    private readonly total_max: number,
  ) {
    assert(Number.isInteger(per_merchant_max) && per_merchant_max >= 1, 'InflightBounds: per_merchant_max must be >= 1');
    assert(Number.isInteger(total_max) && total_max >= per_merchant_max, 'InflightBounds: total_max must be >= per_merchant_max');
  }

  /** Takes a slot for `merchant_id`, or returns false when it or the process is full. */
  tryAcquire(merchant_id: string): boolean {
    const current = this.per_merchant.get(merchant_id) ?? 0;
    if (current >= this.per_merchant_max || this.total >= this.total_max) return false;
    this.per_merchant.set(merchant_id, current + 1);
    this.total += 1;
    return true;
  }

  release(merchant_id: string): void {
    const current = this.per_merchant.get(merchant_id) ?? 0;
    assert(current > 0 && this.total > 0, `InflightBounds: release without acquire for ${merchant_id}`);
    if (current === 1) this.per_merchant.delete(merchant_id);
    else this.per_merchant.set(merchant_id, current - 1);
    this.total -= 1;
  }

  inflight(merchant_id?: string): number {
    return merchant_id === undefined ? this.total : (this.per_merchant.get(merchant_id) ?? 0);
  }
}
