// refund_id → payment_id. A refund lives on its payment's subject, but its id is derived from
// (merchant_id, merchant_refund_no) alone, so GetRefund and provider refund callbacks need
// this index. One subject per refund holding its last word (max one message per subject):
// a payment id (claimed) or '' (released). Every write names the sequence it replaces
// (compare-and-set), so of two payments racing for one refund id exactly one holds it.
//
// The actor claims a refund id only once decide has accepted the refund, and releases it when
// the append is then refused after all (another writer moved first, and the refund no longer
// fits): a refused refund never uses up its merchant_refund_no.

import { JetStreamApiError, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { refund_claim_rounds_max } from '../constants';
import { dependencyFailure } from '../errors';
import type { Names } from '../names';

const wrong_last_sequence = 10071;

interface Entry {
  seq: number;
  /** '' once released. */
  holder: string;
}

export class RefundIndex {
  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly names: Names,
  ) {}

  async lookup(refund_id: string): Promise<string | undefined> {
    const entry = await this.#last(refund_id);
    return entry === undefined || entry.holder === '' ? undefined : entry.holder;
  }

  /** Claims the refund id for a payment; returns the payment that holds it (this one, or
   * another that claimed it first). */
  async claim(refund_id: string, payment_id: string): Promise<string> {
    let expected = 0; // the common case: a new refund id, one write
    for (let round = 0; ; round += 1) {
      try {
        // No Nats-Msg-Id: deduplication is checked before the expected sequence, so a re-claim
        // after a release would be swallowed as a duplicate. A claim whose answer was lost is
        // found on the next try (the holder is then this payment).
        await this.js.publish(this.names.refundIndex(refund_id), payment_id, { expect: { lastSubjectSequence: expected } });
        return payment_id;
      } catch (error) {
        if (!isWrongLastSequence(error) || round >= refund_claim_rounds_max) throw dependencyFailure(error, 'NATS');
      }
      const entry = await this.#last(refund_id);
      if (entry !== undefined && entry.holder !== '') return entry.holder;
      expected = entry?.seq ?? 0; // released (or gone): take it over from what is there now
    }
  }

  /** Gives the refund id up when `payment_id` holds it and did not record the refund. */
  async release(refund_id: string, payment_id: string): Promise<void> {
    const entry = await this.#last(refund_id);
    if (entry === undefined || entry.holder !== payment_id) return;
    try {
      await this.js.publish(this.names.refundIndex(refund_id), '', { expect: { lastSubjectSequence: entry.seq } });
    } catch (error) {
      if (!isWrongLastSequence(error)) throw dependencyFailure(error, 'NATS'); // else moved on meanwhile: not ours to release
    }
  }

  async #last(refund_id: string): Promise<Entry | undefined> {
    try {
      const message = await this.jsm.direct.getMessage(this.names.refund_index_stream, { last_by_subj: this.names.refundIndex(refund_id) });
      return message === null ? undefined : { seq: message.seq, holder: message.string() };
    } catch (error) {
      throw dependencyFailure(error, 'NATS');
    }
  }
}

function isWrongLastSequence(error: unknown): boolean {
  return error instanceof JetStreamApiError && error.code === wrong_last_sequence;
}
