// Pre-built request bytes. A CreatePaymentRequest is encoded once with a fixed-width order
// number; each request copies those bytes and writes its sequence number's digits in place,
// so the driver does no protobuf encoding and builds no objects per create.

import { ClosePaymentRequest, CreatePaymentRequest, CreateRefundRequest, GetPaymentRequest, Product } from '../../proto/gen/paycore/v1/payment';

/** Digits of the per-request sequence number in merchant_order_no (10^10 creates per prefix). */
export const sequence_digits = 10;

export interface CreateShape {
  merchant_id: string;
  /** merchant_order_no = order_prefix + sequence_digits digits; ≤ 64 characters in all. */
  order_prefix: string;
  amount_minor: bigint;
  subject: string;
}

/** A realistic create: a WeChat Native (QR) payment with a subject, notify URL and metadata. */
export function benchCreateShape(merchant_id: string, order_prefix: string): CreateShape {
  return { merchant_id, order_prefix, amount_minor: 1999n, subject: 'bench: jasmine tea 250g' };
}

export class CreateTemplate {
  readonly #template: Buffer;
  readonly #digits_offset: number;

  constructor(readonly shape: CreateShape) {
    const placeholder = '0'.repeat(sequence_digits);
    const order_no = shape.order_prefix + placeholder;
    if (order_no.length > 64 || !/^[A-Za-z0-9_\-|*]+$/.test(order_no)) throw new Error(`bad merchant_order_no shape: ${order_no}`);
    this.#template = Buffer.from(CreatePaymentRequest.encode(createRequest(shape, order_no)).finish());
    const at = this.#template.indexOf(Buffer.from(order_no, 'latin1'));
    if (at < 0) throw new Error('order number not found in the encoded request');
    this.#digits_offset = at + shape.order_prefix.length;
  }

  orderNo(sequence: number): string {
    return this.shape.order_prefix + String(sequence).padStart(sequence_digits, '0');
  }

  /** The encoded request for `sequence`, in a fresh buffer (grpc-js may hold it until sent). */
  bytes(sequence: number): Buffer {
    const buffer = Buffer.allocUnsafe(this.#template.length);
    this.#template.copy(buffer);
    let rest = sequence;
    for (let i = this.#digits_offset + sequence_digits - 1; i >= this.#digits_offset; i--) {
      buffer[i] = 48 + (rest % 10);
      rest = Math.floor(rest / 10);
    }
    return buffer;
  }
}

export function createRequest(shape: CreateShape, merchant_order_no: string): CreatePaymentRequest {
  return {
    merchantId: shape.merchant_id,
    merchantOrderNo: merchant_order_no,
    amount: shape.amount_minor,
    currency: 'CNY',
    product: Product.PRODUCT_WECHAT_NATIVE,
    subject: shape.subject,
    payer: undefined,
    notifyUrl: 'https://merchant.example.com/paycore/notify',
    expireSeconds: 0,
    routeHints: undefined,
    metadata: { shop: 'bench-shop-01', cart: 'c-000123' },
    splitRules: [],
  };
}

export function getBytes(merchant_id: string, payment_id: string): Buffer {
  return Buffer.from(GetPaymentRequest.encode({ paymentId: payment_id, merchantId: merchant_id, merchantOrderNo: '' }).finish());
}

export function closeBytes(merchant_id: string, payment_id: string): Buffer {
  return Buffer.from(ClosePaymentRequest.encode({ paymentId: payment_id, merchantId: merchant_id, merchantOrderNo: '' }).finish());
}

/** A refund of `amount_minor` of the payment; its merchant_refund_no is derived from the
 * payment id, so a replayed step is the same refund. */
export function refundBytes(merchant_id: string, payment_id: string, amount_minor: bigint): Buffer {
  return Buffer.from(CreateRefundRequest.encode({
    merchantId: merchant_id, merchantRefundNo: `${payment_id}-r1`, paymentId: payment_id, merchantOrderNo: '', amount: amount_minor, reason: 'bench', notifyUrl: '',
  }).finish());
}
