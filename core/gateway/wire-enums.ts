// The contract's enum values carry their enum's prefix (PRODUCT_WECHAT_NATIVE), as buf's
// STANDARD lint and every protobuf language expect; inside paycore (events, routing table,
// channels, metrics) products and states are the plain names (WECHAT_NATIVE). Stored events
// and routing configuration keep their names, so the two are mapped here, at the edge, by
// tables the type-checker holds complete in both directions.

import type { NextActionType as DomainNextActionType, ProductName } from '../../channels/channel';
import { ChannelState as WireChannelState } from '../../proto/gen/paycore/v1/admin';
import { NextActionType, PaymentStatus, Product, RefundStatus } from '../../proto/gen/paycore/v1/payment';
import type { PaymentStatus as DomainPaymentStatus, RefundState } from '../orders/types';
import type { ChannelState } from '../routing/types';

const products: Readonly<Record<ProductName, Product>> = {
  WECHAT_NATIVE: Product.PRODUCT_WECHAT_NATIVE,
  WECHAT_JSAPI: Product.PRODUCT_WECHAT_JSAPI,
  WECHAT_APP: Product.PRODUCT_WECHAT_APP,
  WECHAT_H5: Product.PRODUCT_WECHAT_H5,
  ALIPAY_QR: Product.PRODUCT_ALIPAY_QR,
  ALIPAY_APP: Product.PRODUCT_ALIPAY_APP,
  ALIPAY_WAP: Product.PRODUCT_ALIPAY_WAP,
  ALIPAY_PC: Product.PRODUCT_ALIPAY_PC,
  UNIONPAY_QUICK: Product.PRODUCT_UNIONPAY_QUICK,
  BANK_B2C: Product.PRODUCT_BANK_B2C,
  BANK_B2B: Product.PRODUCT_BANK_B2B,
  BARCODE: Product.PRODUCT_BARCODE,
};

const payment_statuses: Readonly<Record<DomainPaymentStatus, PaymentStatus>> = {
  CREATED: PaymentStatus.PAYMENT_STATUS_CREATED,
  REQUIRES_ACTION: PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION,
  PROCESSING: PaymentStatus.PAYMENT_STATUS_PROCESSING,
  SUCCEEDED: PaymentStatus.PAYMENT_STATUS_SUCCEEDED,
  FAILED: PaymentStatus.PAYMENT_STATUS_FAILED,
  CLOSED: PaymentStatus.PAYMENT_STATUS_CLOSED,
  PARTIALLY_REFUNDED: PaymentStatus.PAYMENT_STATUS_PARTIALLY_REFUNDED,
  REFUNDED: PaymentStatus.PAYMENT_STATUS_REFUNDED,
  REVERSED: PaymentStatus.PAYMENT_STATUS_REVERSED,
};

const next_action_types: Readonly<Record<DomainNextActionType, NextActionType>> = {
  QR_CODE: NextActionType.NEXT_ACTION_TYPE_QR_CODE,
  REDIRECT: NextActionType.NEXT_ACTION_TYPE_REDIRECT,
  SDK_PARAMS: NextActionType.NEXT_ACTION_TYPE_SDK_PARAMS,
  SMS_CODE: NextActionType.NEXT_ACTION_TYPE_SMS_CODE,
};

const refund_statuses: Readonly<Record<RefundState, RefundStatus>> = {
  PENDING: RefundStatus.REFUND_STATUS_PENDING,
  PROCESSING: RefundStatus.REFUND_STATUS_PROCESSING,
  SUCCEEDED: RefundStatus.REFUND_STATUS_SUCCEEDED,
  FAILED: RefundStatus.REFUND_STATUS_FAILED,
  REQUIRES_MANUAL: RefundStatus.REFUND_STATUS_REQUIRES_MANUAL,
};

const channel_states: Readonly<Record<ChannelState, WireChannelState>> = {
  ENABLED: WireChannelState.CHANNEL_STATE_ENABLED,
  DISABLED: WireChannelState.CHANNEL_STATE_DISABLED,
  DRAINING: WireChannelState.CHANNEL_STATE_DRAINING,
};

function inverse<K extends string>(table: Readonly<Record<K, number>>): ReadonlyMap<number, K> {
  return new Map(Object.entries(table).map(([name, value]) => [value as number, name as K]));
}

const product_of_wire = inverse(products);
const channel_state_of_wire = inverse(channel_states);

export const productToWire = (name: ProductName): Product => products[name];
export const paymentStatusToWire = (status: DomainPaymentStatus): PaymentStatus => payment_statuses[status];
export const nextActionTypeToWire = (type: DomainNextActionType): NextActionType => next_action_types[type];
export const refundStatusToWire = (state: RefundState): RefundStatus => refund_statuses[state];
export const channelStateToWire = (state: ChannelState): WireChannelState => channel_states[state];

/** The domain name of a wire product; undefined for PRODUCT_UNSPECIFIED and unknown numbers. */
export function productFromWire(product: Product): ProductName | undefined {
  return product_of_wire.get(product);
}

/** The domain state of a wire channel state; undefined for CHANNEL_STATE_UNSPECIFIED and unknown numbers. */
export function channelStateFromWire(state: WireChannelState): ChannelState | undefined {
  return channel_state_of_wire.get(state);
}

/** Every product a request may name, in the contract's order. */
export const wire_products: readonly Product[] = Object.values(products);
