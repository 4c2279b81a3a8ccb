import { channel_states, product_names } from '../routing/types';
import { ChannelState } from '../../proto/gen/paycore/v1/admin';
import { NextActionType, PaymentStatus, Product, RefundStatus } from '../../proto/gen/paycore/v1/payment';
import type { PaymentStatus as DomainPaymentStatus, RefundState } from '../orders/types';
import {
  channelStateFromWire, channelStateToWire, nextActionTypeToWire, paymentStatusToWire, productFromWire, productToWire, refundStatusToWire, wire_products,
} from './wire-enums';

/** Every value of a generated enum but the zero value and ts-proto's UNRECOGNIZED. */
function wireNames(enumeration: Record<string, string | number>): string[] {
  return Object.keys(enumeration).filter((k) => Number.isNaN(Number(k)) && !k.endsWith('_UNSPECIFIED') && k !== 'UNRECOGNIZED');
}

const payment_statuses: DomainPaymentStatus[] = ['CREATED', 'REQUIRES_ACTION', 'PROCESSING', 'SUCCEEDED', 'FAILED', 'CLOSED', 'PARTIALLY_REFUNDED', 'REFUNDED', 'REVERSED'];
const refund_states: RefundState[] = ['PENDING', 'PROCESSING', 'SUCCEEDED', 'FAILED', 'REQUIRES_MANUAL'];

test('wire enums - each domain name maps to the wire value of the same name with its prefix, and back', () => {
  for (const name of product_names) {
    expect(Product[productToWire(name)]).toBe(`PRODUCT_${name}`);
    expect(productFromWire(productToWire(name))).toBe(name);
  }
  for (const status of payment_statuses) expect(PaymentStatus[paymentStatusToWire(status)]).toBe(`PAYMENT_STATUS_${status}`);
  for (const state of refund_states) expect(RefundStatus[refundStatusToWire(state)]).toBe(`REFUND_STATUS_${state}`);
  for (const type of ['QR_CODE', 'REDIRECT', 'SDK_PARAMS', 'SMS_CODE'] as const) expect(NextActionType[nextActionTypeToWire(type)]).toBe(`NEXT_ACTION_TYPE_${type}`);
  for (const state of channel_states) {
    expect(ChannelState[channelStateToWire(state)]).toBe(`CHANNEL_STATE_${state}`);
    expect(channelStateFromWire(channelStateToWire(state))).toBe(state);
  }
});

test('wire enums - every value the contract defines has a domain name (a new proto value needs its mapping)', () => {
  expect(wireNames(Product).map((n) => productFromWire(Product[n as keyof typeof Product]))).not.toContain(undefined);
  expect(wireNames(Product).sort()).toEqual(wire_products.map((p) => Product[p]).sort());
  expect(wireNames(PaymentStatus).sort()).toEqual(payment_statuses.map((s) => `PAYMENT_STATUS_${s}`).sort());
  expect(wireNames(RefundStatus).sort()).toEqual(refund_states.map((s) => `REFUND_STATUS_${s}`).sort());
  expect(wireNames(ChannelState).map((n) => channelStateFromWire(ChannelState[n as keyof typeof ChannelState]))).not.toContain(undefined);
});

test('wire enums - the zero value and unknown numbers have no domain name', () => {
  expect(productFromWire(Product.PRODUCT_UNSPECIFIED)).toBeUndefined();
  expect(productFromWire(Product.UNRECOGNIZED)).toBeUndefined();
  expect(productFromWire(99 as Product)).toBeUndefined();
  expect(channelStateFromWire(ChannelState.CHANNEL_STATE_UNSPECIFIED)).toBeUndefined();
});
