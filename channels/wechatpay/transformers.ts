// WeChat Pay API v3 wire types and the pure functions between them and paycore's channel
// types: toRequest (PayRequest → provider JSON), fromResponse (provider JSON → AttemptStatus),
// mapStatus (trade_state → AttemptStatus) and the error mapping. No I/O here; every function
// is unit-tested against the documented payload shapes.

import { strict as assert } from 'node:assert';
import {
  ChannelError, type AttemptStatus, type HttpAnswer, type NextAction, type PayRequest, type ProductName,
  type RefundRequest, type RefundStatus, type StatementRow,
} from '../channel';
import { chinaRfc3339, compactChinaTime, parseChinaDateTime, parseCompactChinaTime } from '../shared/china-time';
import { parseYuan, splitCsvLine } from '../shared/http';
import type { KeyInput } from '../shared/crypto';
import { appParams, jsapiParams } from './crypto';

export const WECHATPAY_PRODUCTS: readonly ProductName[] = ['WECHAT_NATIVE', 'WECHAT_JSAPI', 'WECHAT_APP', 'WECHAT_H5', 'BARCODE'];

/** WeChat's limit on `description` (characters). */
const description_chars_max = 127;
/** WeChat's rule for out_trade_no (6 to 32 of digits, letters, _-|*); the sandbox enforces it too. */
const out_trade_no_pattern = /^[0-9A-Za-z_\-|*]{6,32}$/;
/** Provider messages are copied into our errors; keep them bounded. */
const provider_message_chars_max = 256;

// ---------------------------------------------------------------------------------------------
// Wire types

interface WechatAmountRequest {
  /** Fen, an integer. */
  total: number;
  currency: string;
}

interface WechatCreateOrderRequest {
  appid: string;
  mchid: string;
  description: string;
  out_trade_no: string;
  time_expire: string;
  notify_url: string;
  amount: WechatAmountRequest;
  payer?: { openid: string };
  scene_info?: { payer_client_ip: string; h5_info?: { type: 'Wap' | 'iOS' | 'Android' } };
  /** profit_sharing: the paid amount stays frozen for profit sharing (分账) until split or unfrozen. */
  settle_info?: { profit_sharing: boolean };
}

type WechatTradeType = 'NATIVE' | 'JSAPI' | 'APP' | 'MWEB';

interface WechatNativeResponse { code_url: string }
interface WechatPrepayResponse { prepay_id: string }
interface WechatH5Response { h5_url: string }
type WechatCreateOrderResponse = Partial<WechatNativeResponse & WechatPrepayResponse & WechatH5Response>;

type WechatTradeState =
  | 'SUCCESS' | 'REFUND' | 'NOTPAY' | 'CLOSED' | 'REVOKED' | 'USERPAYING' | 'PAYERROR';

/** Query answer and decrypted TRANSACTION.* callback resource. */
export interface WechatTransaction {
  appid?: string;
  mchid?: string;
  out_trade_no: string;
  transaction_id?: string;
  trade_type?: WechatTradeType | string;
  trade_state: WechatTradeState | string;
  trade_state_desc?: string;
  bank_type?: string;
  attach?: string;
  /** RFC 3339, e.g. 2018-06-08T10:34:56+08:00 */
  success_time?: string;
  payer?: { openid?: string };
  amount?: { total?: number; payer_total?: number; currency?: string; payer_currency?: string };
}

export interface WechatErrorBody {
  code: string;
  message: string;
  detail?: unknown;
}

interface WechatNotificationResource {
  algorithm: string;
  ciphertext: string;
  associated_data?: string;
  original_type: string;
  nonce: string;
}

export interface WechatNotification {
  id: string;
  create_time: string;
  event_type: string;
  resource_type: string;
  resource: WechatNotificationResource;
  summary: string;
}

export interface HttpCall {
  method: 'GET' | 'POST';
  /** Path with query string: what is signed and sent. */
  path: string;
  /** Serialised JSON ('' for GET): the exact bytes signed. */
  body: string;
  /** A body with a field encrypted to the WeChat Pay public key: its id goes in Wechatpay-Serial. */
  encrypted?: true;
}

// ---------------------------------------------------------------------------------------------
// Amounts and times

/** bigint fen → the JSON number WeChat wants; money never passes through a float. */
export function toFen(amount_minor: bigint): number {
  assert(amount_minor <= BigInt(Number.MAX_SAFE_INTEGER), 'amount_minor exceeds a safe integer');
  const total = Number(amount_minor);
  assert(Number.isSafeInteger(total), 'amount must be a safe integer');
  return total;
}

/** The JSON number from WeChat → bigint; undefined when it is not an exact integer. */
export function fromFen(total: unknown): bigint | undefined {
  if (typeof total !== 'number' || !Number.isSafeInteger(total) || total < 0) return undefined;
  return BigInt(total);
}

/** API v3 time fields: RFC 3339 in China time, second precision (2018-06-08T10:34:56+08:00). API v2
 * fields (micropay time_expire, time_end) are the compact yyyyMMddHHmmss of the same time. */
export { chinaRfc3339 as toChinaTime };

function parseRfc3339(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value)) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** Truncates by code points so a surrogate pair is never split. */
export function truncateDescription(subject: string): string {
  const chars = Array.from(subject);
  return chars.length <= description_chars_max ? subject : chars.slice(0, description_chars_max).join('');
}

// ---------------------------------------------------------------------------------------------
// Pay

const product_paths: Record<string, string> = {
  WECHAT_NATIVE: '/v3/pay/transactions/native',
  WECHAT_JSAPI: '/v3/pay/transactions/jsapi',
  WECHAT_APP: '/v3/pay/transactions/app',
  WECHAT_H5: '/v3/pay/transactions/h5',
};

function productPath(product: ProductName): string {
  const path = product_paths[product];
  if (path === undefined) {
    throw new ChannelError('unsupported', 'UNSUPPORTED', `wechatpay does not support product ${product}`);
  }
  return path;
}

/**
 * PayRequest → the create-order call. A caller mistake WeChat would refuse anyway (no openid
 * for JSAPI, no client IP for H5) is refused here as 'rejected' without a round trip.
 */
export function toPayRequest(request: PayRequest, merchant: { appid: string; mchid: string; profit_sharing?: boolean }): HttpCall {
  const path = productPath(request.product);
  if (request.amount_minor <= 0n) throw refusedLocally('amount_minor must be positive');
  if (!out_trade_no_pattern.test(request.attempt_id)) {
    throw refusedLocally('attempt_id must be 6 to 32 characters of [0-9A-Za-z_-|*] to be an out_trade_no');
  }
  const body: WechatCreateOrderRequest = {
    appid: merchant.appid,
    mchid: merchant.mchid,
    description: truncateDescription(request.subject),
    out_trade_no: request.attempt_id,
    time_expire: chinaRfc3339(request.expires_at),
    notify_url: request.notify_url,
    amount: { total: toFen(request.amount_minor), currency: request.currency },
  };
  if (request.product === 'WECHAT_JSAPI') {
    if (!request.payer.openid) throw refusedLocally('payer.openid is required for WECHAT_JSAPI');
    body.payer = { openid: request.payer.openid };
  }
  if (request.product === 'WECHAT_H5') {
    if (!request.payer.client_ip) throw refusedLocally('payer.client_ip is required for WECHAT_H5');
    body.scene_info = { payer_client_ip: request.payer.client_ip, h5_info: { type: 'Wap' } };
  }
  if (merchant.profit_sharing === true) body.settle_info = { profit_sharing: true };
  return { method: 'POST', path, body: JSON.stringify(body) };
}

function refusedLocally(message: string): ChannelError {
  return new ChannelError('rejected', 'PARAM_ERROR', message);
}

export interface SdkSigning {
  appid: string;
  mchid: string;
  merchant_private_key: KeyInput;
  /** Fixed values for tests; fresh ones otherwise. */
  timestamp?: string;
  nonce_str?: string;
}

/** A 200 create-order answer → the next action the payer takes. */
export function fromPayResponse(product: ProductName, response: unknown, signing: SdkSigning): AttemptStatus {
  const body = (response ?? {}) as WechatCreateOrderResponse;
  let next_action: NextAction;
  switch (product) {
    case 'WECHAT_NATIVE':
      next_action = { type: 'QR_CODE', value: requireString(body.code_url, 'code_url') };
      break;
    case 'WECHAT_H5':
      next_action = { type: 'REDIRECT', value: requireString(body.h5_url, 'h5_url') };
      break;
    case 'WECHAT_JSAPI': {
      const prepay_id = requireString(body.prepay_id, 'prepay_id');
      const params = jsapiParams(signing.appid, prepay_id, signing.merchant_private_key, signing);
      next_action = { type: 'SDK_PARAMS', value: params.package, params: { ...params } };
      break;
    }
    case 'WECHAT_APP': {
      const prepay_id = requireString(body.prepay_id, 'prepay_id');
      const params = appParams(signing.appid, signing.mchid, prepay_id, signing.merchant_private_key, signing);
      next_action = { type: 'SDK_PARAMS', value: prepay_id, params: { ...params } };
      break;
    }
    default:
      throw new ChannelError('unsupported', 'UNSUPPORTED', `wechatpay does not support product ${product}`);
  }
  return { kind: 'action_required', next_action };
}

/** A 200 without the field we asked for: the order probably exists, so the outcome is unknown. */
function requireString(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new ChannelError('ambiguous', 'BAD_RESPONSE', `wechatpay answer has no ${field}`);
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// Query, close, status

export function toQueryRequest(out_trade_no: string, mchid: string): HttpCall {
  return {
    method: 'GET',
    path: `/v3/pay/transactions/out-trade-no/${encodeURIComponent(out_trade_no)}?mchid=${encodeURIComponent(mchid)}`,
    body: '',
  };
}

export function toCloseRequest(out_trade_no: string, mchid: string): HttpCall {
  return {
    method: 'POST',
    path: `/v3/pay/transactions/out-trade-no/${encodeURIComponent(out_trade_no)}/close`,
    body: JSON.stringify({ mchid }),
  };
}

/**
 * trade_state → AttemptStatus. Only SUCCESS (and REFUND, which implies it was paid) and
 * PAYERROR are final; CLOSED / REVOKED mean no money was taken; everything else is pending.
 */
export function mapStatus(transaction: WechatTransaction): AttemptStatus {
  const channel_trade_no = transaction.transaction_id || undefined;
  switch (transaction.trade_state) {
    case 'SUCCESS':
    case 'REFUND': {
      const amount_minor = fromFen(transaction.amount?.total);
      const paid_at = parseRfc3339(transaction.success_time);
      // A success we cannot read completely is not trusted as final: query settles it.
      if (channel_trade_no === undefined || amount_minor === undefined || paid_at === undefined) {
        return channel_trade_no === undefined ? { kind: 'pending' } : { kind: 'pending', channel_trade_no };
      }
      return { kind: 'succeeded', channel_trade_no, amount_minor, paid_at };
    }
    case 'PAYERROR':
      return { kind: 'failed', code: 'PAYERROR', message: clip(transaction.trade_state_desc ?? 'payment failed') };
    case 'CLOSED':
    case 'REVOKED':
      return { kind: 'closed' };
    default:
      return channel_trade_no === undefined ? { kind: 'pending' } : { kind: 'pending', channel_trade_no };
  }
}

export function isTransaction(value: unknown): value is WechatTransaction {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return typeof record.out_trade_no === 'string' && typeof record.trade_state === 'string';
}

// ---------------------------------------------------------------------------------------------
// Errors

/** Refusals down to the payer, not the channel (balance, payment code stale or invalid): they
 * say nothing about the channel's health (ChannelError.payer_decline). */
const payer_decline_codes = new Set(['NOTENOUGH', 'AUTHCODEEXPIRE', 'AUTH_CODE_INVALID']);

/** A refusal with WeChat Pay's code, classified: the payer's, or ours / the channel's. */
function refusal(code: string, message: string): ChannelError {
  return new ChannelError('rejected', code, message, { payer_decline: payer_decline_codes.has(code) });
}

/** Codes that mean "try again later" whatever the HTTP status: the request may have landed. */
const ambiguous_codes = new Set(['SYSTEM_ERROR', 'SYSTEMERROR', 'BANK_ERROR', 'FREQUENCY_LIMITED']);

export function parseErrorBody(text: string): WechatErrorBody | undefined {
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed === 'object' && parsed !== null && typeof (parsed as WechatErrorBody).code === 'string') {
      const body = parsed as WechatErrorBody;
      return { code: body.code, message: typeof body.message === 'string' ? body.message : '' };
    }
  } catch {
    // not JSON: handled by the caller as an unknown error
  }
  return undefined;
}

/**
 * A non-2xx answer → ChannelError. 4xx with a provider code is a refusal ('rejected': no
 * money taken), 5xx, 429 and system-error codes are 'ambiguous'. Callers handle the codes
 * that carry an outcome (ORDER_NOT_EXIST, ORDERPAID, ORDER_CLOSED) before calling this.
 */
export function mapErrorResponse(operation: string, status: number, text: string): ChannelError {
  const body = parseErrorBody(text);
  const code = body?.code ?? `HTTP_${status}`;
  const message = `wechatpay ${operation}: HTTP ${status} ${code}: ${clip(body?.message ?? '')}`;
  if (status >= 500 || status === 429 || ambiguous_codes.has(code)) return new ChannelError('ambiguous', code, message);
  if (status >= 400 && body !== undefined) return refusal(code, message);
  // A 4xx without a WeChat error body (a proxy's page, say) proves nothing about the order.
  return new ChannelError('ambiguous', code, message);
}

function clip(text: string): string {
  return text.length <= provider_message_chars_max ? text : `${text.slice(0, provider_message_chars_max)}…`;
}

// ---------------------------------------------------------------------------------------------
// Callbacks

export function parseNotificationBody(text: string): WechatNotification | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const body = parsed as Partial<WechatNotification>;
  const resource = body.resource as Partial<WechatNotificationResource> | undefined;
  if (typeof body.id !== 'string' || typeof body.event_type !== 'string') return undefined;
  if (typeof resource !== 'object' || resource === null) return undefined;
  if (typeof resource.ciphertext !== 'string' || typeof resource.nonce !== 'string') return undefined;
  return parsed as WechatNotification;
}

/** WeChat's documented acknowledgement: 2xx without a body; a failure is 5xx with code FAIL. */
export function notificationAnswer(accepted: boolean): HttpAnswer {
  if (accepted) return { status: 204, headers: {}, body: '' };
  return {
    status: 500,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code: 'FAIL', message: 'notification not accepted' }),
  };
}

// ---------------------------------------------------------------------------------------------
// Refunds (POST /v3/refund/domestic/refunds, GET …/refunds/{out_refund_no}, REFUND.* callbacks)

interface WechatRefundRequest {
  out_trade_no?: string;
  transaction_id?: string;
  out_refund_no: string;
  reason?: string;
  notify_url: string;
  amount: { refund: number; total: number; currency: string };
}

type WechatRefundState = 'SUCCESS' | 'CLOSED' | 'PROCESSING' | 'ABNORMAL';

/** Refund answer / query answer (`status`) and decrypted REFUND.* resource (`refund_status`). */
export interface WechatRefund {
  mchid?: string;
  refund_id: string;
  out_refund_no: string;
  transaction_id?: string;
  out_trade_no?: string;
  channel?: string;
  user_received_account?: string;
  success_time?: string;
  create_time?: string;
  status?: WechatRefundState | string;
  refund_status?: WechatRefundState | string;
  amount?: {
    total?: number; refund?: number; payer_total?: number; payer_refund?: number; settlement_refund?: number;
    settlement_total?: number; discount_refund?: number; currency?: string;
  };
}

export function toRefundRequest(request: RefundRequest): HttpCall {
  if (request.amount_minor <= 0n) throw refusedLocally('refund amount_minor must be positive');
  if (request.amount_minor > request.attempt.amount_minor) throw refusedLocally('refund amount exceeds the payment');
  if (!out_trade_no_pattern.test(request.refund_id)) throw refusedLocally('refund_id must be 6 to 32 characters of [0-9A-Za-z_-|*] to be an out_refund_no');
  const body: WechatRefundRequest = {
    out_refund_no: request.refund_id,
    notify_url: request.notify_url,
    amount: { refund: toFen(request.amount_minor), total: toFen(request.attempt.amount_minor), currency: request.attempt.currency },
  };
  // transaction_id wins at WeChat when both are given; out_trade_no alone is enough.
  if (request.channel_trade_no) body.transaction_id = request.channel_trade_no;
  else body.out_trade_no = request.attempt.attempt_id;
  if (request.reason !== '') body.reason = Array.from(request.reason).slice(0, 80).join('');
  return { method: 'POST', path: '/v3/refund/domestic/refunds', body: JSON.stringify(body) };
}

export function toRefundQueryRequest(out_refund_no: string): HttpCall {
  return { method: 'GET', path: `/v3/refund/domestic/refunds/${encodeURIComponent(out_refund_no)}`, body: '' };
}

export function isRefund(value: unknown): value is WechatRefund {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return typeof record.out_refund_no === 'string' && typeof record.refund_id === 'string'
    && (typeof record.status === 'string' || typeof record.refund_status === 'string');
}

/**
 * Refund state → RefundStatus. SUCCESS is final; ABNORMAL means the payer's card or account
 * cannot receive it (pay out by other means); CLOSED is a final refusal; PROCESSING and
 * anything unknown are pending.
 */
export function mapRefundStatus(refund: WechatRefund): RefundStatus {
  const state = refund.status ?? refund.refund_status;
  const channel_refund_no = refund.refund_id || undefined;
  const pending: RefundStatus = channel_refund_no === undefined ? { kind: 'pending' } : { kind: 'pending', channel_refund_no };
  switch (state) {
    case 'SUCCESS': {
      const amount_minor = fromFen(refund.amount?.refund);
      const refunded_at = parseRfc3339(refund.success_time);
      if (channel_refund_no === undefined || amount_minor === undefined || refunded_at === undefined) return pending;
      return { kind: 'succeeded', channel_refund_no, amount_minor, refunded_at };
    }
    case 'ABNORMAL':
      return { kind: 'requires_manual', code: 'ABNORMAL', message: 'refund abnormal: the payer account cannot receive it' };
    case 'CLOSED':
      return { kind: 'failed', code: 'CLOSED', message: 'refund closed by WeChat Pay', retryable: false };
    default:
      return pending;
  }
}

/** Refund refusals that may pass when the same out_refund_no is tried again later. */
const retryable_refund_codes = new Set(['NOT_ENOUGH', 'SYSTEM_ERROR', 'SYSTEMERROR', 'FREQUENCY_LIMITED']);

/**
 * A non-2xx refund answer → status, or a ChannelError for refusals before acceptance. A retry
 * of a retryable failure reuses the out_refund_no, which WeChat deduplicates, so calling a
 * SYSTEM_ERROR 'failed, retryable' cannot refund twice.
 */
export function mapRefundError(status: number, text: string): RefundStatus {
  const body = parseErrorBody(text);
  const code = body?.code;
  if (code !== undefined && retryable_refund_codes.has(code)) {
    return { kind: 'failed', code, message: clip(body?.message ?? ''), retryable: true };
  }
  if (code === 'USER_ACCOUNT_ABNORMAL') return { kind: 'requires_manual', code, message: clip(body?.message ?? '') };
  throw mapErrorResponse('refund', status, text);
}

// ---------------------------------------------------------------------------------------------
// Payment code (API v2 `pay/micropay`, XML, the one WeChat payment-code API)

/** WeChat payment codes: 18 digits starting 10 to 15. */
export const wechat_auth_code_pattern = /^1[0-5]\d{16}$/;
/** v2 `body` limit (bytes, UTF-8). */
const micropay_body_bytes_max = 128;
export const MICROPAY_PATH = '/pay/micropay';

/** PayRequest → unsigned micropay fields (the caller adds nonce_str and sign). */
export function toMicropayParams(request: PayRequest, merchant: { appid: string; mchid: string }): Record<string, string> {
  if (request.product !== 'BARCODE') throw new ChannelError('unsupported', 'UNSUPPORTED', `wechatpay micropay is for BARCODE, not ${request.product}`);
  if (request.amount_minor <= 0n) throw refusedLocally('amount_minor must be positive');
  if (!out_trade_no_pattern.test(request.attempt_id)) throw refusedLocally('attempt_id must be 6 to 32 characters of [0-9A-Za-z_-|*] to be an out_trade_no');
  const auth_code = request.payer.auth_code;
  if (auth_code === undefined || !wechat_auth_code_pattern.test(auth_code)) {
    throw refusedLocally('payer.auth_code must be a WeChat payment code (18 digits starting 10-15)');
  }
  return {
    appid: merchant.appid,
    mch_id: merchant.mchid,
    sign_type: 'HMAC-SHA256',
    body: truncateBytes(request.subject, micropay_body_bytes_max),
    out_trade_no: request.attempt_id,
    total_fee: String(toFen(request.amount_minor)),
    fee_type: request.currency,
    // The terminal's address; WeChat uses it for risk checks only.
    spbill_create_ip: request.payer.client_ip ?? '127.0.0.1',
    auth_code,
    time_expire: compactChinaTime(request.expires_at),
  };
}

/** Errors meaning our request was refused before WeChat tried to charge. */
const micropay_refusals = new Set([
  'PARAM_ERROR', 'NOAUTH', 'XML_FORMAT_ERROR', 'REQUIRE_POST_METHOD', 'SIGNERROR', 'LACK_PARAMS', 'NOT_UTF8',
  'APPID_MCHID_NOT_MATCH', 'INVALID_REQUEST', 'POST_DATA_EMPTY', 'APPID_NOT_EXIST', 'MCHID_NOT_EXIST',
]);
const micropay_unknown = new Set(['SYSTEMERROR', 'BANKERROR']);

/**
 * A verified micropay answer → status; `query` when WeChat says the order is already paid.
 * return_code FAIL (bad signature, bad format) is a refusal; result_code FAIL with USERPAYING is
 * pending (the payer is entering a password), SYSTEMERROR / BANKERROR unknown, ORDERCLOSED /
 * ORDERREVERSED closed, and the remaining business codes (NOTENOUGH, AUTHCODEEXPIRE, …) failed.
 */
export function fromMicropayResponse(fields: Record<string, string>): AttemptStatus | 'query' {
  if (fields.return_code !== 'SUCCESS') {
    throw new ChannelError('rejected', 'RETURN_FAIL', `wechatpay micropay: ${clip(fields.return_msg ?? 'return_code FAIL')}`);
  }
  const channel_trade_no = fields.transaction_id || undefined;
  if (fields.result_code === 'SUCCESS') {
    const amount_minor = /^\d{1,15}$/.test(fields.total_fee ?? '') ? BigInt(fields.total_fee!) : undefined;
    const paid_at = parseCompactChinaTime(fields.time_end);
    if (channel_trade_no === undefined || amount_minor === undefined || paid_at === undefined) {
      return channel_trade_no === undefined ? { kind: 'pending' } : { kind: 'pending', channel_trade_no };
    }
    return { kind: 'succeeded', channel_trade_no, amount_minor, paid_at };
  }
  const code = fields.err_code ?? 'UNKNOWN';
  const message = `wechatpay micropay: ${code} ${clip(fields.err_code_des ?? '')}`.trim();
  if (code === 'USERPAYING') return channel_trade_no === undefined ? { kind: 'pending' } : { kind: 'pending', channel_trade_no };
  // OUT_TRADE_NO_USED: an order with this out_trade_no exists. Attempt ids are ours alone, so
  // it is this attempt's order (an earlier call whose answer was lost): ask what it became.
  if (code === 'ORDERPAID' || code === 'OUT_TRADE_NO_USED') return 'query';
  if (code === 'ORDERCLOSED' || code === 'ORDERREVERSED') return { kind: 'closed' };
  if (micropay_unknown.has(code) || fields.result_code !== 'FAIL') throw new ChannelError('ambiguous', code, message);
  if (micropay_refusals.has(code)) throw refusal(code, message);
  return { kind: 'failed', code, message };
}

export const REVERSE_PATH = '/secapi/pay/reverse';

/** The unsigned `secapi/pay/reverse` fields for a payment-code attempt. */
export function toReverseParams(attempt: { attempt_id: string }, merchant: { appid: string; mchid: string }): Record<string, string> {
  return { appid: merchant.appid, mch_id: merchant.mchid, sign_type: 'HMAC-SHA256', out_trade_no: attempt.attempt_id };
}

/** Reverse errors after which WeChat may still revoke the order if asked again. */
const reverse_retry_codes = new Set(['SYSTEMERROR', 'USERPAYING', 'BANKERROR']);

/**
 * A verified reverse answer → the close outcome. SUCCESS with recall N: revoked (a paid order's
 * money went back to the payer). recall Y or a transient error: not yet, ask again later
 * (ambiguous). ORDERNOTEXIST: nothing to revoke. Anything else is a refusal to look at.
 */
export function fromReverseResponse(fields: Record<string, string>): { kind: 'closed' } {
  if (fields.return_code !== 'SUCCESS') {
    throw new ChannelError('ambiguous', 'RETURN_FAIL', `wechatpay reverse: ${clip(fields.return_msg ?? 'return_code FAIL')}`);
  }
  const code = fields.err_code ?? '';
  if (fields.result_code === 'SUCCESS' && fields.recall !== 'Y') return { kind: 'closed' };
  if (code === 'ORDERNOTEXIST') return { kind: 'closed' };
  const message = `wechatpay reverse: ${code || 'recall'} ${clip(fields.err_code_des ?? '')}`.trim();
  if (fields.recall === 'Y' || reverse_retry_codes.has(code)) throw new ChannelError('ambiguous', code || 'RECALL', message);
  throw refusal(code || 'UNKNOWN', message);
}

function truncateBytes(text: string, bytes_max: number): string {
  let out = '';
  let bytes = 0;
  for (const char of text) {
    bytes += Buffer.byteLength(char, 'utf8');
    if (bytes > bytes_max) break;
    out += char;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Trade bill (GET /v3/bill/tradebill, then its download_url)

export const TRADE_BILL_COLUMNS = [
  '交易时间', '公众账号ID', '商户号', '特约商户号', '设备号', '微信订单号', '商户订单号', '用户标识', '交易类型', '交易状态',
  '付款银行', '货币种类', '应结订单金额', '代金券金额', '微信退款单号', '商户退款单号', '退款金额', '充值券退款金额', '退款类型',
  '退款状态', '商品名称', '商户数据包', '手续费', '费率', '订单金额', '申请退款金额', '费率备注',
] as const;
assert(TRADE_BILL_COLUMNS.length === 27);
export const TRADE_BILL_SUMMARY_COLUMNS = ['总交易单数', '应结订单总金额', '退款总金额', '充值券退款总金额', '手续费总金额', '订单总金额', '申请退款总金额'] as const;

export function toTradeBillRequest(date: string): HttpCall {
  return { method: 'GET', path: `/v3/bill/tradebill?bill_date=${encodeURIComponent(date)}&bill_type=ALL`, body: '' };
}

export interface WechatBillResponse {
  hash_type: string;
  hash_value: string;
  download_url: string;
}

export function isBillResponse(value: unknown): value is WechatBillResponse {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return typeof record.hash_type === 'string' && typeof record.hash_value === 'string' && typeof record.download_url === 'string';
}

const bill_column = (name: (typeof TRADE_BILL_COLUMNS)[number]): number => TRADE_BILL_COLUMNS.indexOf(name);

/**
 * The ALL trade bill → rows. Every value of the detail and summary rows starts with a
 * backtick; the summary's 总交易单数 must match the rows read, or the file is not trusted.
 * amount_minor is positive for both kinds (payments: 订单金额, refunds: 申请退款金额); fee_minor
 * is what WeChat keeps: positive on payments, negative (returned) on refunds.
 */
export function parseTradeBill(text: string, channel_id: string): StatementRow[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/).filter((line) => line.trim() !== '');
  if (lines.length === 0 || !lines[0]!.startsWith(TRADE_BILL_COLUMNS[0])) throw badBill('no header row');
  const header = splitCsvLine(lines[0]!);
  if (header.length < TRADE_BILL_COLUMNS.length) throw badBill(`header has ${header.length} columns, expected ${TRADE_BILL_COLUMNS.length}`);
  const rows: StatementRow[] = [];
  let index = 1;
  for (; index < lines.length && !lines[index]!.startsWith(TRADE_BILL_SUMMARY_COLUMNS[0]); index++) {
    rows.push(tradeBillRow(unTick(lines[index]!), channel_id, index + 1));
  }
  const summary = lines[index + 1];
  if (summary === undefined) throw badBill('no summary rows');
  const count = unTick(summary)[0];
  if (count !== String(rows.length)) throw badBill(`summary says ${count} rows, the file has ${rows.length}`);
  return rows;
}

function unTick(line: string): string[] {
  return splitCsvLine(line).map((field) => (field.startsWith('`') ? field.slice(1) : field).trim());
}

function tradeBillRow(fields: string[], channel_id: string, line_no: number): StatementRow {
  if (fields.length < TRADE_BILL_COLUMNS.length) throw badBill(`line ${line_no} has ${fields.length} columns`);
  const state = fields[bill_column('交易状态')];
  const kind = state === 'REFUND' ? 'refund' : 'payment';
  const amount = parseYuan(kind === 'refund' ? fields[bill_column('申请退款金额')] : fields[bill_column('订单金额')]);
  const fee = parseYuan(fields[bill_column('手续费')] || '0');
  const occurred_at = parseChinaDateTime(fields[bill_column('交易时间')]);
  if (amount === undefined || fee === undefined || occurred_at === undefined) throw badBill(`line ${line_no}: unreadable amount, fee or time`);
  const magnitude = (value: bigint) => (value < 0n ? -value : value);
  const row: StatementRow = {
    channel_id,
    attempt_id: fields[bill_column('商户订单号')]!,
    channel_trade_no: fields[bill_column('微信订单号')]!,
    kind,
    amount_minor: magnitude(amount),
    fee_minor: kind === 'payment' ? magnitude(fee) : -magnitude(fee),
    currency: fields[bill_column('货币种类')] || 'CNY',
    occurred_at,
  };
  if (kind === 'refund' && fields[bill_column('商户退款单号')]) row.refund_id = fields[bill_column('商户退款单号')]!;
  return row;
}

function badBill(message: string): ChannelError {
  return new ChannelError('ambiguous', 'BAD_STATEMENT', `wechatpay trade bill: ${message}`);
}
