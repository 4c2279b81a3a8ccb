// PaymentService's card binding calls (BindCard, ConfirmBinding, ListCards, UnbindCard):
// validation at the edge (fields named, values never echoed: they are personal data) and the
// wire form of bindings and cards.

import {
  BindingStatus,
  type BindCardRequest,
  type Binding as WireBinding,
  type Card as WireCard,
  type ConfirmBindingRequest,
  type ListCardsRequest,
  type UnbindCardRequest,
} from '../../proto/gen/paycore/v1/payment';
import { invalidFields, type FieldViolation } from '../errors';
import { isBindingId } from '../ids';
import type { BindInput } from '../cards/service';
import type { Binding, BoundCard } from '../cards/store';

const key_pattern = /^[A-Za-z0-9_-]{1,64}$/;
const merchant_pattern = /^[A-Za-z0-9_-]{1,32}$/;
const token_pattern = /^[0-9A-Za-z]{1,64}$/;

function check(violations: FieldViolation[], ok: boolean, field: string, description: string): void {
  if (!ok) violations.push({ field, description });
}

export function bindInput(req: BindCardRequest): BindInput {
  const v: FieldViolation[] = [];
  check(v, merchant_pattern.test(req.merchantId), 'merchant_id', 'is required: 1 to 32 of A-Z, a-z, 0-9, _ or -');
  check(v, key_pattern.test(req.merchantBindingNo), 'merchant_binding_no', 'is required: 1 to 64 of A-Z, a-z, 0-9, _ or -');
  check(v, key_pattern.test(req.payerId), 'payer_id', 'is required: 1 to 64 of A-Z, a-z, 0-9, _ or -');
  const card = req.card;
  if (card === undefined) v.push({ field: 'card', description: 'is required' });
  else {
    check(v, /^\d{12,19}$/.test(card.cardNo), 'card.card_no', 'must be 12 to 19 digits');
    check(v, card.holderName.trim().length > 0 && [...card.holderName].length <= 64, 'card.holder_name', 'must be 1 to 64 characters');
    check(v, /^\d{17}[\dXx]$/.test(card.idNumber), 'card.id_number', 'must be an 18-character resident identity card number');
    check(v, /^1\d{10}$/.test(card.phone), 'card.phone', 'must be an 11-digit mobile number');
  }
  if (v.length > 0) throw invalidFields(v);
  return {
    merchant_id: req.merchantId, merchant_binding_no: req.merchantBindingNo, payer_id: req.payerId,
    card: { card_no: card!.cardNo, holder_name: card!.holderName, id_number: card!.idNumber.toUpperCase(), phone: card!.phone },
  };
}

export function checkConfirmBinding(req: ConfirmBindingRequest): void {
  const v: FieldViolation[] = [];
  check(v, merchant_pattern.test(req.merchantId), 'merchant_id', 'is required: 1 to 32 of A-Z, a-z, 0-9, _ or -');
  check(v, isBindingId(req.bindingId), 'binding_id', "must be a binding id: 'b' and 25 characters of a-z or 2-7");
  check(v, /^\d{6}$/.test(req.verificationCode), 'verification_code', 'must be the 6-digit code');
  if (v.length > 0) throw invalidFields(v);
}

export function checkListCards(req: ListCardsRequest): void {
  const v: FieldViolation[] = [];
  check(v, merchant_pattern.test(req.merchantId), 'merchant_id', 'is required: 1 to 32 of A-Z, a-z, 0-9, _ or -');
  check(v, req.payerId === '' || key_pattern.test(req.payerId), 'payer_id', 'must be 1 to 64 of A-Z, a-z, 0-9, _ or -');
  if (v.length > 0) throw invalidFields(v);
}

export function checkUnbindCard(req: UnbindCardRequest): void {
  const v: FieldViolation[] = [];
  check(v, merchant_pattern.test(req.merchantId), 'merchant_id', 'is required: 1 to 32 of A-Z, a-z, 0-9, _ or -');
  check(v, token_pattern.test(req.cardToken), 'card_token', 'must be a card token: 1 to 64 letters and digits');
  if (v.length > 0) throw invalidFields(v);
}

const statuses = {
  SMS_SENT: BindingStatus.BINDING_STATUS_SMS_SENT,
  BOUND: BindingStatus.BINDING_STATUS_BOUND,
  FAILED: BindingStatus.BINDING_STATUS_FAILED,
} as const;

export function toWireBinding(b: Binding): WireBinding {
  return {
    bindingId: b.binding_id, merchantId: b.merchant_id, payerId: b.payer_id, status: statuses[b.status], phoneHint: b.phone_hint, cardLast4: b.card_last4,
    cardToken: b.card_token ?? '', wrongCodes: b.wrong_codes, failureCode: b.failure?.code ?? '', failureMessage: b.failure?.message ?? '', channelId: b.channel_id,
    createdAt: new Date(b.created_at),
  };
}

export function toWireCard(c: BoundCard): WireCard {
  return { cardToken: c.card_token, payerId: c.payer_id, cardLast4: c.card_last4, channelId: c.channel_id, boundAt: new Date(c.bound_at) };
}
