// Between the wire (ts-proto messages) and paycore's own types.

import type { ProductName } from '../../channels/channel';
import { NextActionType, type CreatePaymentRequest, type NextAction, type Payment, type Product, type Refund as RefundMessage } from '../../proto/gen/paycore/v1/payment';
import { poll_interval_ms } from '../constants';
import { PaycoreError } from '../errors';
import { merchantFeeMinor } from '../events/types';
import { currentAttempt } from '../orders/evolve';
import type { CreateInput } from '../orders/protocol';
import type { PaymentState, Refund } from '../orders/types';
import { nextActionTypeToWire, paymentStatusToWire, productFromWire, productToWire, refundStatusToWire } from './wire-enums';

/** The domain name of a product the request has already been validated for. */
function productName(product: Product): ProductName {
  const name = productFromWire(product);
  if (name === undefined) throw new PaycoreError('INTERNAL', `product ${product} passed validation unknown`);
  return name;
}

export function toCreateInput(request: CreatePaymentRequest, expire_seconds: number, fingerprint: string): CreateInput {
  const payer = request.payer;
  const elements: CreateInput['payer'] = {};
  if (payer?.clientIp) elements.client_ip = payer.clientIp;
  if (payer?.openid) elements.openid = payer.openid;
  if (payer?.authCode) elements.auth_code = payer.authCode;
  if (payer?.cardToken) elements.card_token = payer.cardToken;
  if (payer?.bankCode) elements.bank_code = payer.bankCode;
  return {
    merchant_id: request.merchantId,
    merchant_order_no: request.merchantOrderNo,
    amount_minor: request.amount,
    currency: request.currency,
    product: productName(request.product),
    subject: request.subject,
    payer: elements,
    notify_url: request.notifyUrl,
    expire_seconds,
    include_channels: request.routeHints?.includeChannels ?? [],
    exclude_channels: request.routeHints?.excludeChannels ?? [],
    metadata: request.metadata,
    fingerprint,
  };
}

/** The provider's action, or POLL while a created payment's attempt waits for the provider's
 * answer (its create outlived the channel's create deadline, or is being re-issued). */
function nextActionOf(state: PaymentState): NextAction | undefined {
  if (state.next_action !== undefined) {
    return { type: nextActionTypeToWire(state.next_action.type), value: state.next_action.value, params: state.next_action.params ?? {} };
  }
  if (state.status === 'CREATED' && currentAttempt(state)?.state === 'requested') {
    return { type: NextActionType.NEXT_ACTION_TYPE_POLL, value: String(poll_interval_ms), params: {} };
  }
  return undefined;
}

export function toPayment(state: PaymentState): Payment {
  const winning = state.attempts.find((a) => a.attempt_id === state.winning_attempt_id);
  const attempt = winning ?? currentAttempt(state);
  return {
    paymentId: state.payment_id,
    merchantId: state.merchant_id,
    merchantOrderNo: state.merchant_order_no,
    amount: state.amount_minor,
    currency: state.currency,
    product: productToWire(state.product),
    subject: state.subject,
    status: paymentStatusToWire(state.status),
    channelId: attempt?.channel_id ?? '',
    channelTradeNo: attempt?.channel_trade_no ?? '',
    nextAction: nextActionOf(state),
    failure: state.failure === undefined ? undefined : { code: state.failure.code, message: state.failure.message },
    refundedAmount: state.refunded_minor,
    fee: merchantFeeMinor(state), // the merchant's fee; what the channel costs stays internal
    version: BigInt(state.version),
    createdAt: new Date(state.created_at),
    updatedAt: new Date(state.updated_at),
    paidAt: state.paid_at === undefined ? undefined : new Date(state.paid_at),
    expiresAt: new Date(state.expires_at),
    metadata: state.metadata,
    notifyUrl: state.notify_url,
    duplicates: state.duplicates.map((d) => ({ attemptId: d.attempt_id, channelTradeNo: d.channel_trade_no, amount: d.amount_minor })),
    heldForReview: state.held !== undefined && state.status === 'CREATED' && state.closed_reason === undefined,
  };
}

export function toRefund(state: PaymentState, refund: Refund): RefundMessage {
  return {
    refundId: refund.refund_id,
    paymentId: state.payment_id,
    merchantRefundNo: refund.merchant_refund_no,
    amount: refund.amount_minor,
    status: refundStatusToWire(refund.state),
    channelRefundNo: refund.channel_refund_no ?? '',
    payoutId: refund.payout_id ?? '',
    failure: refund.failure === undefined ? undefined : { code: refund.failure.code, message: refund.failure.message },
    createdAt: new Date(refund.created_at),
    updatedAt: new Date(refund.updated_at),
    merchantId: state.merchant_id,
    reason: refund.reason,
    currency: state.currency,
  };
}
