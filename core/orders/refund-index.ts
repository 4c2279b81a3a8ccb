// refund_id → payment_id. A refund lives on its payment's subject, but its id is derived from
// (merchant_id, merchant_refund_no) alone, so GetRefund and provider refund callbacks need
// this index. One subject per refund, written once (expected last subject sequence 0):
// the first payment to claim a refund id keeps it.

import { JetStreamApiError, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { Names } from '../names';

const wrong_last_sequence = 10071;

export class RefundIndex {
  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly names: Names,
  ) {}

  async lookup(refund_id: string): Promise<string | undefined> {
    const message = await this.jsm.direct.getMessage(this.names.refund_index_stream, { last_by_subj: this.names.refundIndex(refund_id) });
    return message === null ? undefined : message.string();
  }

  /** Claims the refund id for a payment; returns the payment that holds it (this one, or
   * another that claimed it first). */
  async claim(refund_id: string, payment_id: string): Promise<string> {
    try {
      await this.js.publish(this.names.refundIndex(refund_id), payment_id, { expect: { lastSubjectSequence: 0 }, msgID: `${refund_id}:${payment_id}` });
      return payment_id;
    } catch (error) {
      if (!(error instanceof JetStreamApiError) || error.code !== wrong_last_sequence) throw error;
      return (await this.lookup(refund_id)) ?? payment_id;
    }
  }
}
