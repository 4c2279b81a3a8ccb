// WeChat Pay API v3 wire types and the pure functions between them and paycore's channel
// types: toRequest (PayRequest → provider JSON), fromResponse (provider JSON → AttemptStatus),
// mapStatus (trade_state → AttemptStatus) and the error mapping. No I/O here; every function
// is unit-tested against the documented payload shapes.

import { strict as assert } from 'node:assert';
import {
  ChannelError, type AttemptStatus, type HttpAnswer, type NextAction, type PayRequest, type ProductName,
} from '../channel';
import { appParams, jsapiParams, type KeyInput } from './crypto';

export const WECHATPAY_PRODUCTS: readonly ProductName[] = ['WECHAT_NATIVE', 'WECHAT_JSAPI', 'WECHAT_APP', 'WECHAT_H5'];

/** WeChat's limit on `description` (characters). */
export const description_chars_max = 127;
/** WeChat's rule for out_trade_no (6 to 32 of digits, letters, _-|*); the sandbox enforces it too. */
export const out_trade_no_pattern = /^[0-9A-Za-z_\-|*]{6,32}$/;
/** Provider messages are copied into our errors; keep them bounded. */
const provider_message_chars_max = 256;

// ---------------------------------------------------------------------------------------------
// Wire types

export interface WechatAmountRequest {
  /** Fen, an integer. */
  total: number;
  currency: string;
}

export interface WechatCreateOrderRequest {
  appid: string;
  mchid: string;
  description: string;
  out_trade_no: string;
  time_expire: string;
  notify_url: string;
  amount: WechatAmountRequest;
  payer?: { openid: string };
  scene_info?: { payer_client_ip: string; h5_info?: { type: 'Wap' | 'iOS' | 'Android' } };
}

export type WechatTradeType = 'NATIVE' | 'JSAPI' | 'APP' | 'MWEB';

export interface WechatNativeResponse { code_url: string }
export interface WechatPrepayResponse { prepay_id: string }
export interface WechatH5Response { h5_url: string }
export type WechatCreateOrderResponse = Partial<WechatNativeResponse & WechatPrepayResponse & WechatH5Response>;

export type WechatTradeState =
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

export interface WechatNotificationResource {
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

const china_offset_ms = 8 * 60 * 60 * 1000;

/** RFC 3339 in China time, second precision: 2018-06-08T10:34:56+08:00. */
export function toChinaTime(date: Date): string {
  assert(!Number.isNaN(date.getTime()), 'invalid date');
  const shifted = new Date(date.getTime() + china_offset_ms).toISOString();
  return `${shifted.slice(0, 19)}+08:00`;
}

export function parseRfc3339(value: string | undefined): Date | undefined {
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

export function productPath(product: ProductName): string {
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
export function toPayRequest(request: PayRequest, merchant: { appid: string; mchid: string }): HttpCall {
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
    time_expire: toChinaTime(request.expires_at),
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
  if (status >= 400 && body !== undefined) return new ChannelError('rejected', code, message);
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
