// The WeChat Pay API v3 channel adapter (direct merchant, "WeChat Pay public key" mode):
// native / JSAPI / APP / H5 create, query and close by out_trade_no, and TRANSACTION.*
// callbacks. HTTP calls and their error classification live here; payload shapes and
// status mapping are in transformers.ts, signatures and AEAD in crypto.ts.
//
// Never logged, never in an error message: key material, the Authorization header, openid.

import { Pool } from 'undici';
import type { KeyObject } from 'node:crypto';
import { inspect } from 'node:util';
import {
  ChannelError, registerChannel, unsupported,
  type AttemptRef, type AttemptStatus, type Channel, type ChannelConfig, type CloseOutcome, type HttpAnswer,
  type IncomingNotification, type ParsedNotification, type PayRequest, type ProductName, type StatementRow,
} from '../channel';
import {
  aeadDecrypt, apiv3_key_bytes, buildAuthorization, privateKey, publicKey, verifyResponse,
} from './crypto';
import {
  WECHATPAY_PRODUCTS, fromPayResponse, isTransaction, mapErrorResponse, mapStatus, notificationAnswer,
  parseErrorBody, parseNotificationBody, toCloseRequest, toPayRequest, toQueryRequest, type HttpCall,
} from './transformers';

export * as wechatpayCrypto from './crypto';
export * as wechatpayTransformers from './transformers';

/** Used when settings.timeout_ms is absent: WeChat answers in well under a second normally. */
export const timeout_ms_default = 10_000;
/** Bounds on settings.timeout_ms: below 50 ms nothing succeeds, above 60 s an actor stalls. */
const timeout_ms_min = 50;
const timeout_ms_max = 60_000;
/** Idle keep-alive sockets per adapter; WeChat closes idle connections after about 60 s. */
const keep_alive_timeout_ms = 30_000;
/** Concurrent connections per adapter (one Pool per channel). */
const connections_max = 64;

/** Holds a secret string so that logging the holder cannot print it. */
class Secret {
  readonly #value: string;
  constructor(value: string) { this.#value = value; }
  reveal(): string { return this.#value; }
  toString(): string { return '[secret]'; }
  toJSON(): string { return '[secret]'; }
  [inspect.custom](): string { return '[secret]'; }
}

export interface WechatPaySettings {
  base_url: URL;
  mchid: string;
  appid: string;
  merchant_serial_no: string;
  merchant_private_key: KeyObject;
  apiv3_key: Secret;
  platform_public_key: KeyObject;
  platform_public_key_id: string;
  timeout_ms: number;
}

/** Validates config.settings once; an error names the key, never its value. */
export function parseSettings(channel_id: string, settings: Record<string, string>): WechatPaySettings {
  const fail = (key: string, why: string): never => {
    throw new Error(`channel ${channel_id}: settings.${key} ${why}`);
  };
  const required = (key: string): string => {
    const value = settings[key];
    if (typeof value !== 'string' || value.trim() === '') fail(key, 'is required');
    return value!.trim();
  };
  let base_url: URL;
  try {
    base_url = new URL(required('base_url'));
  } catch (error) {
    if (error instanceof Error && error.message.startsWith(`channel ${channel_id}:`)) throw error;
    return fail('base_url', 'is not a URL');
  }
  if (base_url.protocol !== 'https:' && base_url.protocol !== 'http:') fail('base_url', 'must be http(s)');
  if (base_url.pathname !== '/' || base_url.search !== '') fail('base_url', 'must be an origin without a path');
  const key = (name: string, load: (pem: string) => KeyObject): KeyObject => {
    try {
      return load(required(name));
    } catch (error) {
      if (error instanceof Error && error.message.startsWith(`channel ${channel_id}:`)) throw error;
      return fail(name, 'is not a valid PEM key');
    }
  };
  const apiv3_key = settings.apiv3_key ?? '';
  if (apiv3_key === '') fail('apiv3_key', 'is required');
  if (Buffer.byteLength(apiv3_key, 'utf8') !== apiv3_key_bytes) fail('apiv3_key', `must be exactly ${apiv3_key_bytes} bytes`);
  let timeout_ms = timeout_ms_default;
  if (settings.timeout_ms !== undefined && settings.timeout_ms !== '') {
    timeout_ms = Number(settings.timeout_ms);
    if (!Number.isInteger(timeout_ms) || timeout_ms < timeout_ms_min || timeout_ms > timeout_ms_max) {
      fail('timeout_ms', `must be an integer from ${timeout_ms_min} to ${timeout_ms_max}`);
    }
  }
  const platform_public_key_id = required('platform_public_key_id');
  if (!platform_public_key_id.startsWith('PUB_KEY_ID_')) fail('platform_public_key_id', "must start with 'PUB_KEY_ID_'");
  return {
    base_url,
    mchid: required('mchid'),
    appid: required('appid'),
    merchant_serial_no: required('merchant_serial_no'),
    merchant_private_key: key('merchant_private_key_pem', privateKey),
    apiv3_key: new Secret(apiv3_key),
    platform_public_key: key('platform_public_key_pem', publicKey),
    platform_public_key_id,
    timeout_ms,
  };
}

interface HttpResult {
  status: number;
  text: string;
}

export class WechatPayChannel implements Channel {
  readonly channel_id: string;
  readonly provider = 'wechatpay';
  readonly products: readonly ProductName[];
  readonly #settings: WechatPaySettings;
  readonly #pool: Pool;

  constructor(config: ChannelConfig) {
    this.channel_id = config.channel_id;
    for (const product of config.products) {
      if (!WECHATPAY_PRODUCTS.includes(product)) {
        throw new Error(`channel ${config.channel_id}: product ${product} is not a WeChat Pay product`);
      }
    }
    this.products = [...config.products];
    this.#settings = parseSettings(config.channel_id, config.settings);
    this.#pool = new Pool(this.#settings.base_url.origin, {
      connections: connections_max,
      keepAliveTimeout: keep_alive_timeout_ms,
      headersTimeout: this.#settings.timeout_ms,
      bodyTimeout: this.#settings.timeout_ms,
      connect: { timeout: this.#settings.timeout_ms },
    });
  }

  async pay(request: PayRequest): Promise<AttemptStatus> {
    if (!this.products.includes(request.product)) throw unsupported(this.channel_id, `product ${request.product}`);
    const settings = this.#settings;
    const call = toPayRequest(request, settings);
    const result = await this.#send('pay', call);
    if (result.status === 200) {
      return fromPayResponse(request.product, parseJson(result.text, 'pay'), {
        appid: settings.appid, mchid: settings.mchid, merchant_private_key: settings.merchant_private_key,
      });
    }
    const code = parseErrorBody(result.text)?.code;
    // A re-issued create for an order that has meanwhile been paid or closed: the outcome is
    // known, and calling it 'rejected' would claim no money was taken.
    if (code === 'ORDERPAID') return this.query(request);
    if (code === 'ORDER_CLOSED') return { kind: 'closed' };
    throw mapErrorResponse('pay', result.status, result.text);
  }

  async query(attempt: AttemptRef): Promise<AttemptStatus> {
    const result = await this.#send('query', toQueryRequest(attempt.attempt_id, this.#settings.mchid));
    if (result.status === 200) {
      const transaction = parseJson(result.text, 'query');
      if (!isTransaction(transaction) || transaction.out_trade_no !== attempt.attempt_id) {
        throw new ChannelError('ambiguous', 'BAD_RESPONSE', 'wechatpay query: answer is not a transaction for this attempt');
      }
      return mapStatus(transaction);
    }
    if (result.status === 404 && parseErrorBody(result.text)?.code === 'ORDER_NOT_EXIST') return { kind: 'not_found' };
    throw mapErrorResponse('query', result.status, result.text);
  }

  async close(attempt: AttemptRef): Promise<CloseOutcome> {
    const result = await this.#send('close', toCloseRequest(attempt.attempt_id, this.#settings.mchid));
    if (result.status === 204 || result.status === 200) return { kind: 'closed' };
    const code = parseErrorBody(result.text)?.code;
    if (code === 'ORDERPAID') return { kind: 'already_paid' };
    if (code === 'ORDER_CLOSED') return { kind: 'closed' };
    // No order under this out_trade_no: nothing can be paid on it.
    if (result.status === 404 && code === 'ORDER_NOT_EXIST') return { kind: 'closed' };
    throw mapErrorResponse('close', result.status, result.text);
  }

  async refund(): Promise<never> {
    throw unsupported(this.channel_id, 'refund');
  }

  async queryRefund(): Promise<never> {
    throw unsupported(this.channel_id, 'queryRefund');
  }

  async downloadStatement(): Promise<StatementRow[]> {
    throw unsupported(this.channel_id, 'downloadStatement');
  }

  parseNotification(notification: IncomingNotification): ParsedNotification {
    const settings = this.#settings;
    const text = notification.body.toString('utf8');
    const verdict = verifyResponse(notification.headers, text, settings);
    if (!verdict.ok) {
      throw new ChannelError('bad_signature', verdict.reason.toUpperCase(), `wechatpay callback refused: ${verdict.reason}`);
    }
    const body = parseNotificationBody(text);
    if (body === undefined) throw new ChannelError('bad_signature', 'MALFORMED', 'wechatpay callback is not a notification');
    if (!body.event_type.startsWith('TRANSACTION.')) {
      throw unsupported(this.channel_id, `callback event ${body.event_type}`);
    }
    let plaintext: string;
    try {
      plaintext = aeadDecrypt(body.resource, settings.apiv3_key.reveal());
    } catch {
      throw new ChannelError('bad_signature', 'DECRYPT_FAILED', 'wechatpay callback resource failed to decrypt');
    }
    const transaction = parseJsonOr(plaintext);
    if (!isTransaction(transaction)) {
      throw new ChannelError('bad_signature', 'MALFORMED', 'wechatpay callback resource is not a transaction');
    }
    if (transaction.mchid !== undefined && transaction.mchid !== settings.mchid) {
      throw new ChannelError('bad_signature', 'MCHID_MISMATCH', 'wechatpay callback is for another merchant');
    }
    return { attempt_id: transaction.out_trade_no, status: mapStatus(transaction) };
  }

  notificationAnswer(accepted: boolean): HttpAnswer {
    return notificationAnswer(accepted);
  }

  async close_connections(): Promise<void> {
    await this.#pool.close();
  }

  /** Signs, sends, reads and verifies one call. Classifies transport failures. */
  async #send(operation: string, call: HttpCall): Promise<HttpResult> {
    const settings = this.#settings;
    const authorization = buildAuthorization(
      { method: call.method, path_with_query: call.path, body: call.body },
      { mchid: settings.mchid, merchant_serial_no: settings.merchant_serial_no, merchant_private_key: settings.merchant_private_key },
    );
    const headers: Record<string, string> = {
      accept: 'application/json',
      authorization,
      'user-agent': 'paycore-wechatpay/0.1',
    };
    if (call.method === 'POST') headers['content-type'] = 'application/json';
    let status: number;
    let response_headers: Record<string, string | string[] | undefined>;
    let text: string;
    try {
      const response = await this.#pool.request({
        method: call.method,
        path: call.path,
        headers,
        body: call.method === 'POST' ? call.body : undefined,
        headersTimeout: settings.timeout_ms,
        bodyTimeout: settings.timeout_ms,
      });
      status = response.statusCode;
      response_headers = response.headers;
      text = await response.body.text();
    } catch (error) {
      throw transportError(operation, error);
    }
    // 5xx is ambiguous whatever its signature says; everything else must be WeChat's own word.
    if (status < 500) {
      const verdict = verifyResponse(response_headers, text, settings);
      if (!verdict.ok) {
        throw new ChannelError('ambiguous', 'BAD_RESPONSE_SIGNATURE',
          `wechatpay ${operation}: HTTP ${status} answer failed verification (${verdict.reason})`);
      }
    }
    return { status, text };
  }
}

/** Errors raised before a byte was written mean the provider saw nothing. */
const not_sent_codes = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);
const timeout_codes = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

function transportError(operation: string, error: unknown): ChannelError {
  if (error instanceof ChannelError) return error;
  const code = errorCode(error);
  if (code !== undefined && not_sent_codes.has(code)) {
    return new ChannelError('not_sent', code, `wechatpay ${operation}: could not connect (${code})`);
  }
  if (code !== undefined && timeout_codes.has(code)) {
    return new ChannelError('ambiguous', 'TIMEOUT', `wechatpay ${operation}: no answer in time (${code})`);
  }
  return new ChannelError('ambiguous', code ?? 'NETWORK_ERROR', `wechatpay ${operation}: transport error (${code ?? 'unknown'})`);
}

function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const errors = (current as { errors?: unknown }).errors;
    current = Array.isArray(errors) && errors.length > 0 ? errors[0] : (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function parseJson(text: string, operation: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // Signed by WeChat yet unreadable: the call may have taken effect.
    throw new ChannelError('ambiguous', 'BAD_RESPONSE', `wechatpay ${operation}: answer is not JSON`);
  }
}

function parseJsonOr(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

registerChannel('wechatpay', (config) => new WechatPayChannel(config));
