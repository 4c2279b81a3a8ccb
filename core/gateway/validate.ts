// Edge validation of requests against the field rules of docs/api.md, before anything is loaded,
// routed or persisted. Pure: no I/O, and every violation is returned at once so a caller can
// fix its request in one round trip. Field paths are proto snake_case (`payer.auth_code`).
//
// Descriptions name the rule, never the offending value: payer elements (openid, auth_code,
// card_token) are personal data and must not reach logs through an error message.

import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { CreatePaymentRequest, CreateRefundRequest, GetRefundRequest, ListPaymentOptionsRequest, Payer, Product, RouteHints } from '../../proto/gen/paycore/v1/payment';
import { amount_minor_max } from '../constants';
import { assert, FieldViolation } from '../errors';
import { isPaymentId, isRefundId, paymentId, type IdKey } from '../ids';
import { urlProblem, type DestinationPolicy } from '../notify/destination';
import { wire_products } from './wire-enums';

export interface ExpireRules {
  expire_seconds_min: number;
  expire_seconds_max: number;
  /** What expire_seconds = 0 means. */
  expire_seconds_default: number;
}

export interface PaymentRef {
  paymentId: string;
  merchantId: string;
  merchantOrderNo: string;
}

// docs/api.md: 1 ≤ amount ≤ amount_minor_max (10^12) minor units.
const amount_minor_min = 1n;
const subject_chars_max = 128;
const notify_url_chars_max = 256;
// Both bounds keep a request (and the stored intent built from it) small.
const route_hint_channels_max = 20;
const metadata_entries_max = 20;
const metadata_key_chars_max = 64;
const metadata_value_chars_max = 256;
// An IPv6 address with a zone id is the longest form we accept.
const client_ip_chars_max = 64;

const merchant_id_pattern = /^[A-Za-z0-9_-]{1,32}$/;
const merchant_order_no_pattern = /^[A-Za-z0-9_\-|*]{1,64}$/;
const channel_id_pattern = merchant_id_pattern;
const currency_pattern = /^[A-Z]{3}$/;
const control_or_lone_surrogate_pattern = /[\p{Cc}\p{Cs}]/u;
const space_or_control_pattern = /[\s\p{Cc}]/u;

const merchant_id_rule = "must be 1 to 32 characters of A-Z, a-z, 0-9, '_' or '-'";
const merchant_order_no_rule = "must be 1 to 64 characters of A-Z, a-z, 0-9, '_', '-', '|' or '*'";
const channel_id_rule = "must be a channel id: 1 to 32 characters of A-Z, a-z, 0-9, '_' or '-'";

type PayerElement = 'client_ip' | 'openid' | 'auth_code' | 'card_token' | 'bank_code';

/** The payer element each product cannot be paid without. */
const payer_element_required: ReadonlyMap<Product, PayerElement> = new Map([
  [Product.PRODUCT_WECHAT_JSAPI, 'openid'],
  [Product.PRODUCT_WECHAT_H5, 'client_ip'],
  [Product.PRODUCT_BARCODE, 'auth_code'],
  [Product.PRODUCT_UNIONPAY_QUICK, 'card_token'],
  [Product.PRODUCT_BANK_B2C, 'bank_code'],
  [Product.PRODUCT_BANK_B2B, 'bank_code'],
]);

/** Format of each payer element whenever it is present, needed or not. */
const payer_element_rules: Readonly<Record<PayerElement, { valid: (s: string) => boolean; rule: string }>> = {
  client_ip: {
    valid: (s) => s.length <= client_ip_chars_max && isIP(s) !== 0,
    rule: 'must be a valid IPv4 or IPv6 address',
  },
  openid: { valid: (s) => /^[A-Za-z0-9_-]{1,128}$/.test(s), rule: "must be 1 to 128 characters of A-Z, a-z, 0-9, '_' or '-'" },
  // WeChat codes are 18 digits, Alipay 16 to 24 (more for some terminals): 10 to 32 covers both.
  auth_code: { valid: (s) => /^[0-9]{10,32}$/.test(s), rule: 'must be 10 to 32 digits' },
  card_token: { valid: (s) => /^[\x21-\x7e]{1,128}$/.test(s), rule: 'must be 1 to 128 printable ASCII characters without spaces' },
  bank_code: { valid: (s) => /^[A-Za-z0-9_-]{1,32}$/.test(s), rule: "must be 1 to 32 characters of A-Z, a-z, 0-9, '_' or '-'" },
};

const payer_elements: readonly PayerElement[] = ['client_ip', 'openid', 'auth_code', 'card_token', 'bank_code'];

// The products paycore maps to its own names (wire-enums.ts): a value the contract gains before
// paycore serves it is refused here, not half-accepted.
const known_products: readonly Product[] = wire_products;
const product_rule = `must be one of ${known_products.map((p) => Product[p]).join(', ')}`;

let currency_codes: ReadonlySet<string> | undefined;

export function validateCreatePayment(req: CreatePaymentRequest, rules: ExpireRules, destinations: DestinationPolicy): FieldViolation[] {
  assertExpireRules(rules);
  const violations: FieldViolation[] = [];
  const add = (field: string, description: string | undefined): void => {
    if (description !== undefined) violations.push({ field, description });
  };
  add('merchant_id', merchantIdProblem(req.merchantId));
  add('merchant_order_no', merchantOrderNoProblem(req.merchantOrderNo));
  add('amount', amountProblem(req.amount));
  add('currency', currencyProblem(req.currency));
  add('product', productProblem(req.product));
  add('subject', subjectProblem(req.subject));
  for (const violation of payerViolations(req.product, req.payer)) violations.push(violation);
  add('notify_url', notifyUrlProblem(req.notifyUrl, destinations));
  add('expire_seconds', expireSecondsProblem(req.expireSeconds, rules));
  for (const violation of routeHintViolations(req.routeHints)) violations.push(violation);
  for (const violation of metadataViolations(req.metadata)) violations.push(violation);
  return violations;
}

/** Get/Close/Confirm/Watch: merchant_id always (every call is scoped to the merchant it is
 * made for), and payment_id or merchant_order_no, or both when they agree. */
export function validatePaymentRef(req: PaymentRef, key: IdKey): FieldViolation[] {
  const violations: FieldViolation[] = [];
  violations.push(...refPart('merchant_id', req.merchantId, 'is required: the merchant the call is made for', merchantIdProblem));
  const has_payment_id = req.paymentId !== '';
  const has_order_no = req.merchantOrderNo !== '';
  if (!has_payment_id && !has_order_no) {
    violations.push({ field: 'payment_id', description: 'is required unless merchant_order_no is given' });
    return violations;
  }
  if (has_payment_id && !isPaymentId(req.paymentId)) {
    violations.push({ field: 'payment_id', description: "must be a payment id: 'p' and 25 characters of a-z or 2-7" });
  }
  if (has_order_no) violations.push(...refPart('merchant_order_no', req.merchantOrderNo, '', merchantOrderNoProblem));
  if (has_payment_id && has_order_no && violations.length === 0 && paymentId(key, req.merchantId, req.merchantOrderNo) !== req.paymentId) {
    violations.push({ field: 'payment_id', description: 'does not match merchant_id and merchant_order_no' });
  }
  return violations;
}

function refPart(field: string, value: string, missing: string, problem: (s: string) => string | undefined): FieldViolation[] {
  const description = value === '' ? missing : problem(value);
  return description === undefined ? [] : [{ field, description }];
}

/**
 * SHA-256 (hex) of every parameter of a create request, to tell an identical replay (same
 * fingerprint) from a reuse of the merchant key with different parameters. The encoding is a
 * JSON array in a fixed order: unambiguous, and independent of field order on the wire.
 */
export function requestFingerprint(req: CreatePaymentRequest, expire_seconds_effective: number): string {
  const payer = req.payer;
  const metadata = Object.entries(req.metadata ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const canonical = [
    'paycore.create_payment.v1',
    req.merchantId,
    req.merchantOrderNo,
    String(req.amount),
    req.currency,
    req.product,
    req.subject,
    [payer?.clientIp ?? '', payer?.openid ?? '', payer?.authCode ?? '', payer?.cardToken ?? '', payer?.bankCode ?? ''],
    req.notifyUrl,
    expire_seconds_effective,
    [...(req.routeHints?.includeChannels ?? [])],
    [...(req.routeHints?.excludeChannels ?? [])],
    metadata,
  ];
  return createHash('sha256').update(JSON.stringify(canonical), 'utf8').digest('hex');
}

const refund_reason_chars_max = 256;

/** CreateRefund: the merchant key, the payment (by id or order no), amount, reason, URL. */
export function validateCreateRefund(req: CreateRefundRequest, key: IdKey, destinations: DestinationPolicy): FieldViolation[] {
  const violations: FieldViolation[] = [];
  const add = (field: string, description: string | undefined): void => {
    if (description !== undefined) violations.push({ field, description });
  };
  add('merchant_id', merchantIdProblem(req.merchantId));
  add('merchant_refund_no', merchantOrderNoProblem(req.merchantRefundNo));
  if (req.paymentId === '' && req.merchantOrderNo === '') {
    add('payment_id', 'is required unless merchant_order_no is given');
  } else {
    if (req.paymentId !== '' && !isPaymentId(req.paymentId)) add('payment_id', "must be a payment id: 'p' and 25 characters of a-z or 2-7");
    if (req.merchantOrderNo !== '') add('merchant_order_no', merchantOrderNoProblem(req.merchantOrderNo));
    if (req.paymentId !== '' && req.merchantOrderNo !== '' && violations.length === 0 && paymentId(key, req.merchantId, req.merchantOrderNo) !== req.paymentId) {
      add('payment_id', 'does not match merchant_id and merchant_order_no');
    }
  }
  add('amount', amountProblem(req.amount));
  if ([...req.reason].length > refund_reason_chars_max || control_or_lone_surrogate_pattern.test(req.reason)) {
    add('reason', `must be at most ${refund_reason_chars_max} characters with no control characters`);
  }
  add('notify_url', notifyUrlProblem(req.notifyUrl, destinations));
  return violations;
}

/** ConfirmPayment: a payment reference and the step-up code (never echoed). */
export function validateConfirmPayment(req: PaymentRef & { verificationCode: string }, key: IdKey): FieldViolation[] {
  const violations = validatePaymentRef(req, key);
  if (!/^[0-9]{4,12}$/.test(req.verificationCode)) violations.push({ field: 'verification_code', description: 'must be 4 to 12 digits' });
  return violations;
}

/** ListPaymentOptions: merchant, amount, currency (the scene is checked by routing). */
export function validatePaymentOptions(req: ListPaymentOptionsRequest): FieldViolation[] {
  const violations: FieldViolation[] = [];
  const add = (field: string, description: string | undefined): void => {
    if (description !== undefined) violations.push({ field, description });
  };
  add('merchant_id', merchantIdProblem(req.merchantId));
  add('amount', amountProblem(req.amount));
  add('currency', currencyProblem(req.currency));
  if (req.scene === '') add('scene', 'is required, e.g. PC, MOBILE_BROWSER, WECHAT_BROWSER, APP or POS');
  return violations;
}

/** GetRefund: merchant_id always, and refund_id or merchant_refund_no. */
export function validateRefundRef(req: GetRefundRequest): FieldViolation[] {
  const violations: FieldViolation[] = [];
  violations.push(...refPart('merchant_id', req.merchantId, 'is required: the merchant the call is made for', merchantIdProblem));
  if (req.refundId !== '') {
    if (!isRefundId(req.refundId)) violations.push({ field: 'refund_id', description: "must be a refund id: 'r' and 25 characters of a-z or 2-7" });
    return violations;
  }
  violations.push(...refPart('merchant_refund_no', req.merchantRefundNo, 'is required unless refund_id is given', merchantOrderNoProblem));
  return violations;
}

/** SHA-256 (hex) of every parameter of a refund request (see requestFingerprint). */
export function refundFingerprint(req: CreateRefundRequest, payment_id: string): string {
  const canonical = ['paycore.create_refund.v1', req.merchantId, req.merchantRefundNo, payment_id, String(req.amount), req.reason, req.notifyUrl];
  return createHash('sha256').update(JSON.stringify(canonical), 'utf8').digest('hex');
}

function merchantIdProblem(merchant_id: string): string | undefined {
  return merchant_id_pattern.test(merchant_id) ? undefined : merchant_id_rule;
}

function merchantOrderNoProblem(merchant_order_no: string): string | undefined {
  return merchant_order_no_pattern.test(merchant_order_no) ? undefined : merchant_order_no_rule;
}

function amountProblem(amount: bigint): string | undefined {
  if (typeof amount === 'bigint' && amount >= amount_minor_min && amount <= amount_minor_max) return undefined;
  return `must be between ${amount_minor_min} and ${amount_minor_max} minor units`;
}

function currencyProblem(currency: string): string | undefined {
  if (currency_pattern.test(currency) && currencyCodes().has(currency)) return undefined;
  return 'must be an existing ISO 4217 alphabetic code in upper case, e.g. CNY';
}

function currencyCodes(): ReadonlySet<string> {
  if (currency_codes === undefined) currency_codes = new Set(Intl.supportedValuesOf('currency'));
  return currency_codes;
}

function productProblem(product: Product): string | undefined {
  return known_products.includes(product) ? undefined : product_rule;
}

function subjectProblem(subject: string): string | undefined {
  if (!charCountWithin(subject, 1, subject_chars_max)) return `must be 1 to ${subject_chars_max} characters`;
  if (control_or_lone_surrogate_pattern.test(subject)) return 'must not contain control characters';
  return undefined;
}

function payerViolations(product: Product, payer: Payer | undefined): FieldViolation[] {
  const violations: FieldViolation[] = [];
  const required = payer_element_required.get(product);
  for (const element of payer_elements) {
    const value = payerElement(payer, element);
    const field = `payer.${element}`;
    if (value === '') {
      if (element === required) violations.push({ field, description: `is required for product ${Product[product]}` });
    } else if (!payer_element_rules[element].valid(value)) {
      violations.push({ field, description: payer_element_rules[element].rule });
    }
  }
  return violations;
}

function payerElement(payer: Payer | undefined, element: PayerElement): string {
  if (payer === undefined) return '';
  switch (element) {
    case 'client_ip': return payer.clientIp;
    case 'openid': return payer.openid;
    case 'auth_code': return payer.authCode;
    case 'card_token': return payer.cardToken;
    case 'bank_code': return payer.bankCode;
  }
}

/** The URL's form, then the destination policy: https in production, and no loopback,
 * private or metadata address written in it (names are checked again, resolved, at delivery). */
function notifyUrlProblem(notify_url: string, destinations: DestinationPolicy): string | undefined {
  if (notify_url === '') return undefined;
  const rule = `must be an absolute http or https URL of at most ${notify_url_chars_max} characters`;
  if (!charCountWithin(notify_url, 1, notify_url_chars_max)) return rule;
  // The URL parser silently drops tabs, newlines and outer spaces: refuse them instead.
  if (space_or_control_pattern.test(notify_url)) return rule;
  let url: URL;
  try {
    url = new URL(notify_url);
  } catch {
    return rule;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') return rule;
  return urlProblem(url, destinations);
}

function expireSecondsProblem(expire_seconds: number, rules: ExpireRules): string | undefined {
  if (expire_seconds === 0) return undefined;
  const within =
    Number.isInteger(expire_seconds) &&
    expire_seconds >= rules.expire_seconds_min &&
    expire_seconds <= rules.expire_seconds_max;
  if (within) return undefined;
  return (
    `must be 0 (meaning ${rules.expire_seconds_default}) or between ` +
    `${rules.expire_seconds_min} and ${rules.expire_seconds_max} seconds`
  );
}

function routeHintViolations(hints: RouteHints | undefined): FieldViolation[] {
  const include = hints?.includeChannels ?? [];
  const exclude = hints?.excludeChannels ?? [];
  const violations = [
    ...channelListViolations('route_hints.include_channels', include),
    ...channelListViolations('route_hints.exclude_channels', exclude),
  ];
  if (include.length <= route_hint_channels_max && exclude.length <= route_hint_channels_max) {
    const included = new Set(include);
    exclude.forEach((channel_id, index) => {
      if (included.has(channel_id)) {
        violations.push({
          field: `route_hints.exclude_channels[${index}]`,
          description: 'must not also appear in route_hints.include_channels',
        });
      }
    });
  }
  return violations;
}

function channelListViolations(path: string, channel_ids: string[]): FieldViolation[] {
  // Over the bound, one violation for the list rather than one per element.
  if (channel_ids.length > route_hint_channels_max) {
    return [{ field: path, description: `must have at most ${route_hint_channels_max} channel ids` }];
  }
  const violations: FieldViolation[] = [];
  channel_ids.forEach((channel_id, index) => {
    if (!channel_id_pattern.test(channel_id)) violations.push({ field: `${path}[${index}]`, description: channel_id_rule });
  });
  return violations;
}

// Map entries are reported on `metadata` itself, one violation per rule: keys are the
// merchant's free text and would make paths unbounded.
function metadataViolations(metadata: { [key: string]: string } | undefined): FieldViolation[] {
  const entries = Object.entries(metadata ?? {});
  const violations: FieldViolation[] = [];
  if (entries.length > metadata_entries_max) {
    violations.push({ field: 'metadata', description: `must have at most ${metadata_entries_max} entries` });
  }
  if (entries.some(([key]) => !charCountWithin(key, 1, metadata_key_chars_max))) {
    violations.push({ field: 'metadata', description: `keys must be 1 to ${metadata_key_chars_max} characters` });
  }
  if (entries.some(([, value]) => !charCountWithin(value, 0, metadata_value_chars_max))) {
    violations.push({ field: 'metadata', description: `values must be at most ${metadata_value_chars_max} characters` });
  }
  return violations;
}

/** Whether `s` has between min and max Unicode code points (not UTF-16 units). */
function charCountWithin(s: string, min: number, max: number): boolean {
  if (typeof s !== 'string') return false;
  // Each code point is one or two UTF-16 units: decide from the length when it can.
  if (s.length < min || s.length > 2 * max) return false;
  if (s.length <= max && s.length >= 2 * min) return true;
  let count = 0;
  for (const _ of s) {
    count++;
    if (count > max) return false;
  }
  return count >= min;
}

function assertExpireRules(rules: ExpireRules): void {
  assert(
    Number.isInteger(rules.expire_seconds_min) &&
      rules.expire_seconds_min > 0 &&
      rules.expire_seconds_min <= rules.expire_seconds_default &&
      rules.expire_seconds_default <= rules.expire_seconds_max,
    'expire rules must satisfy 0 < min <= default <= max',
  );
}
