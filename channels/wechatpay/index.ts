// The WeChat Pay API v3 channel adapter (direct merchant, "WeChat Pay public key" mode):
// native / JSAPI / APP / H5 create, query and close by out_trade_no, refunds and refund
// queries, TRANSACTION.*, REFUND.* and PROFITSHARING.* callbacks, and the ALL trade bill. BARCODE (payment
// code) goes through API v2 `pay/micropay` (XML, HMAC-SHA256 with the API v2 key): v3 has no
// payment-code API; its orders are then queried through v3 like any other. HTTP calls and
// their error classification live here; payload shapes and status mapping are in
// transformers.ts, signatures, AEAD and the v2 sign in crypto.ts.
//
// Never logged, never in an error message: key material, the Authorization header, openid,
// auth codes, a profit-sharing receiver's name (sent only RSA-OAEP-encrypted).

import { Pool } from 'undici';
import { createHash, type KeyObject } from 'node:crypto';
import {
  ChannelError, registerChannel, registerStatementParser, unsupported,
  type AttemptRef, type AttemptStatus, type Channel, type ChannelConfig, type CloseOutcome, type HttpAnswer,
  type IncomingNotification, type ParsedNotification, type PayerElements, type PayRequest, type ProductName, type RefundRef,
  type ProfitSharing, type RefundRequest, type RefundStatus, type ShareOutcome, type ShareRequest, type ShareReturnOutcome, type ShareReturnRequest,
  type StatementFile, type StatementRow,
} from '../channel';
import { Secret, isCalendarDate, providerPool, providerProducts, timeout_ms_default, timeout_ms_max, timeout_ms_min, transportError as sharedTransportError } from '../shared/http';
import { privateKey, publicKey } from '../shared/crypto';
import {
  aeadDecrypt, api_v2_key_bytes, apiv3_key_bytes, buildAuthorization, encryptToPlatform, fromXml, nonceString,
  toXml, v2Sign, v2Verify, verifyResponse,
} from './crypto';
import {
  MICROPAY_PATH, REVERSE_PATH, WECHATPAY_PRODUCTS, fromMicropayResponse, fromReverseResponse, toReverseParams, fromPayResponse, isBillResponse, isRefund,
  isTransaction,
  mapErrorResponse, mapRefundError, mapRefundStatus, mapStatus, notificationAnswer, parseErrorBody, parseNotificationBody,
  parseTradeBill, toCloseRequest, toMicropayParams, toPayRequest, toQueryRequest, toRefundQueryRequest, toRefundRequest,
  toTradeBillRequest, wechat_auth_code_pattern, type HttpCall,
} from './transformers';
import {
  isReturnOrder, isShareNotice, isShareOrder, mapReturnOrder, mapShareOrder, toAddReceiverRequest, toReturnOrderRequest, toReturnQueryRequest,
  toShareOrderRequest, toShareQueryRequest, toUnfreezeRequest, type WechatReceiverType,
} from './profitsharing';

export * as wechatpayCrypto from './crypto';
export * as wechatpayTransformers from './transformers';


/** A trade bill larger than this is refused (a day of a large merchant is tens of MiB). */
const statement_bytes_max = 256 * 1024 * 1024;
/** Bill downloads get this budget whatever settings.timeout_ms says. */
const statement_timeout_ms = 60_000;

interface WechatPaySettings {
  base_url: URL;
  mchid: string;
  appid: string;
  merchant_serial_no: string;
  merchant_private_key: KeyObject;
  apiv3_key: Secret;
  platform_public_key: KeyObject;
  platform_public_key_id: string;
  /** API v2 key: signs `pay/micropay` (BARCODE); required only when BARCODE is configured. */
  api_v2_key: Secret | undefined;
  timeout_ms: number;
  /** Profit sharing (分账): payments are created with settle_info.profit_sharing and split
   * through WeChat; receivers are of this type, their account the split's receiver_id. */
  profit_sharing: { receiver_type: WechatReceiverType } | undefined;
}

/** Validates config.settings once; an error names the key, never its value. */
function parseSettings(channel_id: string, settings: Record<string, string>): WechatPaySettings {
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
  const api_v2_key = settings.api_v2_key ?? '';
  if (api_v2_key !== '' && Buffer.byteLength(api_v2_key, 'utf8') !== api_v2_key_bytes) fail('api_v2_key', `must be exactly ${api_v2_key_bytes} bytes`);
  const profit_sharing = settings.profit_sharing ?? '';
  if (profit_sharing !== '' && profit_sharing !== 'true' && profit_sharing !== 'false') fail('profit_sharing', "must be 'true' or 'false'");
  const receiver_type = settings.profit_sharing_receiver_type ?? 'MERCHANT_ID';
  if (receiver_type !== 'MERCHANT_ID' && receiver_type !== 'PERSONAL_OPENID') fail('profit_sharing_receiver_type', 'must be MERCHANT_ID or PERSONAL_OPENID');
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
    api_v2_key: api_v2_key === '' ? undefined : new Secret(api_v2_key),
    timeout_ms,
    profit_sharing: profit_sharing === 'true' ? { receiver_type: receiver_type as WechatReceiverType } : undefined,
  };
}

interface HttpResult {
  status: number;
  text: string;
}

class WechatPayChannel implements Channel {
  readonly channel_id: string;
  readonly provider = 'wechatpay';
  readonly products: readonly ProductName[];
  /** WeChat refuses refunds of orders paid more than a year ago, and a 51st partial refund. */
  readonly refund_policy = { window_days: 365, count_max: 50 };

  /** A payment code is WeChat's only when it has WeChat's prefix (10-15). */
  accepts(product: ProductName, payer: PayerElements): boolean {
    return product !== 'BARCODE' || (payer.auth_code !== undefined && wechat_auth_code_pattern.test(payer.auth_code));
  }
  readonly #settings: WechatPaySettings;
  readonly #pool: Pool;
  readonly profit_sharing: ProfitSharing | undefined;
  /** Receivers added at WeChat by this process (adding one again is harmless, just a call). */
  readonly #receivers_added = new Set<string>();

  constructor(config: ChannelConfig) {
    this.channel_id = config.channel_id;
    this.products = providerProducts(config, WECHATPAY_PRODUCTS, 'WeChat Pay');
    this.#settings = parseSettings(config.channel_id, config.settings);
    if (this.products.includes('BARCODE') && this.#settings.api_v2_key === undefined) {
      throw new Error(`channel ${config.channel_id}: settings.api_v2_key is required for BARCODE`);
    }
    this.#pool = providerPool(this.#settings.base_url.origin, this.#settings.timeout_ms);
    this.profit_sharing = this.#settings.profit_sharing === undefined ? undefined : {
      receiver_name_required: this.#settings.profit_sharing.receiver_type === 'MERCHANT_ID',
      share: (request) => this.#share(request),
      queryShare: (request) => this.#queryShare(request),
      returnShare: (request) => this.#returnShare(request),
      queryReturn: (return_no, share_no) => this.#queryReturn(return_no, share_no),
    };
  }

  /** Adds the receivers WeChat may not know yet, then asks for the split (out_order_no = share_no). */
  async #share(request: ShareRequest): Promise<ShareOutcome> {
    if (request.receivers.length === 0 && request.finish) {
      const result = await this.#send('profit-sharing unfreeze', toUnfreezeRequest(request));
      if (result.status === 200) return this.#shareOf(result.text, request, 'profit-sharing unfreeze');
      throw mapErrorResponse('profit-sharing unfreeze', result.status, result.text);
    }
    const type = this.#settings.profit_sharing!.receiver_type;
    for (const receiver of request.receivers) {
      if (this.#receivers_added.has(receiver.account)) continue;
      const call = toAddReceiverRequest(this.#settings.appid, type, receiver, (name) => encryptToPlatform(name, this.#settings.platform_public_key));
      const added = await this.#send('profit-sharing receiver', call);
      if (added.status !== 200) throw mapErrorResponse('profit-sharing receiver', added.status, added.text);
      this.#receivers_added.add(receiver.account);
    }
    const result = await this.#send('profit sharing', toShareOrderRequest(request, this.#settings.appid, type));
    if (result.status === 200) return this.#shareOf(result.text, request, 'profit sharing');
    throw mapErrorResponse('profit sharing', result.status, result.text);
  }

  async #queryShare(request: ShareRequest): Promise<ShareOutcome> {
    const result = await this.#send('profit-sharing query', toShareQueryRequest(request.share_no, request.channel_trade_no));
    if (result.status === 200) return this.#shareOf(result.text, request, 'profit-sharing query');
    if (result.status === 404 && parseErrorBody(result.text)?.code === 'RESOURCE_NOT_EXISTS') return { kind: 'not_found' };
    throw mapErrorResponse('profit-sharing query', result.status, result.text);
  }

  #shareOf(text: string, request: ShareRequest, operation: string): ShareOutcome {
    const order = parseJson(text, operation);
    if (!isShareOrder(order) || order.out_order_no !== request.share_no) throw new ChannelError('ambiguous', 'BAD_RESPONSE', `wechatpay ${operation}: answer is not this order`);
    return mapShareOrder(order, request);
  }

  async #returnShare(request: ShareReturnRequest): Promise<ShareReturnOutcome> {
    const result = await this.#send('profit-sharing return', toReturnOrderRequest(request));
    if (result.status === 200) return this.#returnOf(result.text, request.return_no, 'profit-sharing return');
    throw mapErrorResponse('profit-sharing return', result.status, result.text);
  }

  async #queryReturn(return_no: string, share_no: string): Promise<ShareReturnOutcome> {
    const result = await this.#send('profit-sharing return query', toReturnQueryRequest(return_no, share_no));
    if (result.status === 200) return this.#returnOf(result.text, return_no, 'profit-sharing return query');
    if (result.status === 404 && parseErrorBody(result.text)?.code === 'RESOURCE_NOT_EXISTS') return { kind: 'not_found' };
    throw mapErrorResponse('profit-sharing return query', result.status, result.text);
  }

  #returnOf(text: string, return_no: string, operation: string): ShareReturnOutcome {
    const order = parseJson(text, operation);
    if (!isReturnOrder(order) || order.out_return_no !== return_no) throw new ChannelError('ambiguous', 'BAD_RESPONSE', `wechatpay ${operation}: answer is not this return`);
    return mapReturnOrder(order);
  }

  async pay(request: PayRequest): Promise<AttemptStatus> {
    if (!this.products.includes(request.product)) throw unsupported(this.channel_id, `product ${request.product}`);
    if (request.product === 'BARCODE') return this.#micropay(request);
    const settings = this.#settings;
    const call = toPayRequest(request, { appid: settings.appid, mchid: settings.mchid, profit_sharing: settings.profit_sharing !== undefined });
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
    if (attempt.product === 'BARCODE') return this.#reverse(attempt);
    const result = await this.#send('close', toCloseRequest(attempt.attempt_id, this.#settings.mchid));
    if (result.status === 204 || result.status === 200) return { kind: 'closed' };
    const code = parseErrorBody(result.text)?.code;
    if (code === 'ORDERPAID') return { kind: 'already_paid' };
    if (code === 'ORDER_CLOSED') return { kind: 'closed' };
    // No order under this out_trade_no: nothing can be paid on it.
    if (result.status === 404 && code === 'ORDER_NOT_EXIST') return { kind: 'closed' };
    throw mapErrorResponse('close', result.status, result.text);
  }

  async refund(request: RefundRequest): Promise<RefundStatus> {
    const result = await this.#send('refund', toRefundRequest(request));
    if (result.status === 200) return mapRefundStatus(this.#refundOf(result.text, request.refund_id, 'refund'));
    return mapRefundError(result.status, result.text);
  }

  async queryRefund(ref: RefundRef): Promise<RefundStatus> {
    const result = await this.#send('refund query', toRefundQueryRequest(ref.refund_id));
    if (result.status === 200) return mapRefundStatus(this.#refundOf(result.text, ref.refund_id, 'refund query'));
    if (result.status === 404 && parseErrorBody(result.text)?.code === 'RESOURCE_NOT_EXISTS') return { kind: 'not_found' };
    throw mapErrorResponse('refund query', result.status, result.text);
  }

  #refundOf(text: string, out_refund_no: string, operation: string) {
    const refund = parseJson(text, operation);
    if (!isRefund(refund) || refund.out_refund_no !== out_refund_no) {
      throw new ChannelError('ambiguous', 'BAD_RESPONSE', `wechatpay ${operation}: answer is not this refund`);
    }
    return refund;
  }

  /** The ALL trade bill of a date (YYYY-MM-DD, China time), checked against its SHA1. */
  async downloadStatement(date: string): Promise<StatementRow[]> {
    const file = await this.downloadStatementFile(date);
    return file.bytes.length === 0 ? [] : parseTradeBill(file.bytes.toString('utf8'), this.channel_id);
  }

  /** The ALL trade bill file of a date, checked against the SHA1 of the signed answer; empty
   * for a day without a trade (NO_STATEMENT_EXIST). */
  async downloadStatementFile(date: string): Promise<StatementFile> {
    if (!isCalendarDate(date)) throw new ChannelError('rejected', 'PARAM_ERROR', 'statement date must be YYYY-MM-DD');
    const result = await this.#send('trade bill', toTradeBillRequest(date));
    if (result.status !== 200) {
      // WeChat's answer for a day without a single trade.
      if (result.status === 400 && parseErrorBody(result.text)?.code === 'NO_STATEMENT_EXIST') return { format: 'wechatpay', bytes: Buffer.alloc(0) };
      throw mapErrorResponse('trade bill', result.status, result.text);
    }
    const bill = parseJson(result.text, 'trade bill');
    if (!isBillResponse(bill)) throw new ChannelError('ambiguous', 'BAD_RESPONSE', 'wechatpay trade bill: answer has no download_url');
    let download: URL;
    try {
      download = new URL(bill.download_url);
    } catch {
      throw new ChannelError('ambiguous', 'BAD_RESPONSE', 'wechatpay trade bill: download_url is not a URL');
    }
    // The download is signed with our key like any call: it must go to the API origin.
    if (download.origin !== this.#settings.base_url.origin) throw new ChannelError('ambiguous', 'BAD_RESPONSE', 'wechatpay trade bill: download_url is not on the API origin');
    const file = await this.#send('bill download', { method: 'GET', path: `${download.pathname}${download.search}`, body: '' }, { verify: false, raw: true });
    if (file.status !== 200) throw mapErrorResponse('bill download', file.status, file.bytes.toString('utf8'));
    // The file is not signed; its digest came in the signed answer above.
    if (bill.hash_type.toUpperCase() !== 'SHA1' || createHash('sha1').update(file.bytes).digest('hex') !== bill.hash_value.toLowerCase()) {
      throw new ChannelError('ambiguous', 'BAD_STATEMENT', 'wechatpay trade bill: file does not match its SHA1');
    }
    return { format: 'wechatpay', bytes: file.bytes };
  }

  /** BARCODE: API v2 `pay/micropay`; a paid order is then queried through v3 like any other. */
  async #micropay(request: PayRequest): Promise<AttemptStatus> {
    const fields = await this.#v2Call('micropay', MICROPAY_PATH, toMicropayParams(request, this.#settings), request.attempt_id);
    const outcome = fromMicropayResponse(fields);
    return outcome === 'query' ? this.query(request) : outcome;
  }

  /**
   * Closing a payment-code order is WeChat's 撤销 (`secapi/pay/reverse`), not the v3 close:
   * the payer's wait is over. Policy: a payment the payer completed before the reverse is
   * kept (already_paid, settled by query) rather than revoked; only an unpaid order is
   * reversed (should the payer pay in between, WeChat's reverse returns the money).
   */
  async #reverse(attempt: AttemptRef): Promise<CloseOutcome> {
    const status = await this.query(attempt);
    if (status.kind === 'succeeded') return { kind: 'already_paid' };
    if (status.kind === 'not_found' || status.kind === 'closed') return { kind: 'closed' };
    const fields = await this.#v2Call('reverse', REVERSE_PATH, toReverseParams(attempt, this.#settings), attempt.attempt_id);
    return fromReverseResponse(fields);
  }

  /** One API v2 call (XML, HMAC-SHA256 with the API v2 key); the answer verified as WeChat's. */
  async #v2Call(operation: string, path: string, unsigned: Record<string, string>, out_trade_no: string): Promise<Record<string, string>> {
    const settings = this.#settings;
    const api_v2_key = settings.api_v2_key;
    if (api_v2_key === undefined) throw unsupported(this.channel_id, 'BARCODE without settings.api_v2_key');
    const params: Record<string, string> = { ...unsigned, nonce_str: nonceString() };
    params.sign = v2Sign(params, api_v2_key.reveal(), 'HMAC-SHA256');
    let status: number;
    let text: string;
    try {
      const response = await this.#pool.request({
        method: 'POST', path, body: toXml(params),
        headers: { 'content-type': 'text/xml; charset=utf-8', 'user-agent': 'paycore-wechatpay/0.1' },
        headersTimeout: settings.timeout_ms, bodyTimeout: settings.timeout_ms,
      });
      status = response.statusCode;
      text = await response.body.text();
    } catch (error) {
      throw transportError(operation, error);
    }
    if (status !== 200) throw new ChannelError('ambiguous', `HTTP_${status}`, `wechatpay ${operation}: HTTP ${status}`);
    const fields = fromXml(text);
    if (fields === undefined) throw new ChannelError('ambiguous', 'BAD_RESPONSE', `wechatpay ${operation}: answer is not XML`);
    // return_code FAIL answers are not signed; everything else must be WeChat's own word.
    if (fields.return_code === 'SUCCESS') {
      if (!v2Verify(fields, api_v2_key.reveal(), 'HMAC-SHA256')) {
        throw new ChannelError('ambiguous', 'BAD_RESPONSE_SIGNATURE', `wechatpay ${operation}: answer failed verification`);
      }
      if (fields.out_trade_no !== undefined && fields.out_trade_no !== out_trade_no) {
        throw new ChannelError('ambiguous', 'BAD_RESPONSE', `wechatpay ${operation}: answer is for another out_trade_no`);
      }
    }
    return fields;
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
    const refund_event = body.event_type.startsWith('REFUND.');
    const sharing_event = body.event_type.startsWith('PROFITSHARING.');
    if (!body.event_type.startsWith('TRANSACTION.') && !refund_event && !sharing_event) {
      throw unsupported(this.channel_id, `callback event ${body.event_type}`);
    }
    let plaintext: string;
    try {
      plaintext = aeadDecrypt(body.resource, settings.apiv3_key.reveal());
    } catch {
      throw new ChannelError('bad_signature', 'DECRYPT_FAILED', 'wechatpay callback resource failed to decrypt');
    }
    const resource = parseJsonOr(plaintext);
    // 分账动账通知: PROFITSHARING.SUCCESS / CLOSED / RETURN, or (as WeChat has sent them) under
    // TRANSACTION.SUCCESS with a profit-sharing resource. Only a trigger to query the order.
    if (sharing_event || isShareNotice(resource)) {
      if (settings.profit_sharing === undefined) throw unsupported(this.channel_id, `callback event ${body.event_type} (profit sharing is not configured)`);
      if (!isShareNotice(resource)) throw new ChannelError('bad_signature', 'MALFORMED', 'wechatpay callback resource is not a profit-sharing movement');
      if (resource.mchid !== undefined && resource.mchid !== settings.mchid) {
        throw new ChannelError('bad_signature', 'MCHID_MISMATCH', 'wechatpay callback is for another merchant');
      }
      return { type: 'profit_sharing', share_no: resource.out_order_no, channel_trade_no: resource.transaction_id };
    }
    if (refund_event) {
      if (!isRefund(resource) || typeof resource.out_trade_no !== 'string') {
        throw new ChannelError('bad_signature', 'MALFORMED', 'wechatpay callback resource is not a refund');
      }
      if (resource.mchid !== undefined && resource.mchid !== settings.mchid) {
        throw new ChannelError('bad_signature', 'MCHID_MISMATCH', 'wechatpay callback is for another merchant');
      }
      return { type: 'refund', refund_id: resource.out_refund_no, attempt_id: resource.out_trade_no, status: mapRefundStatus(resource) };
    }
    const transaction = resource;
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
  async #send(operation: string, call: HttpCall): Promise<HttpResult>;
  async #send(operation: string, call: HttpCall, options: { verify: false; raw: true }): Promise<HttpResult & { bytes: Buffer }>;
  async #send(operation: string, call: HttpCall, options: { verify: boolean; raw?: boolean } = { verify: true }): Promise<HttpResult & { bytes?: Buffer }> {
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
    // A field encrypted to the WeChat Pay public key: WeChat must know which key.
    if (call.encrypted === true) headers['wechatpay-serial'] = settings.platform_public_key_id;
    let status: number;
    let response_headers: Record<string, string | string[] | undefined>;
    let text: string;
    let bytes: Buffer | undefined;
    const timeout_ms = options.raw === true ? statement_timeout_ms : settings.timeout_ms;
    try {
      const response = await this.#pool.request({
        method: call.method,
        path: call.path,
        headers,
        body: call.method === 'POST' ? call.body : undefined,
        headersTimeout: timeout_ms,
        bodyTimeout: timeout_ms,
      });
      status = response.statusCode;
      response_headers = response.headers;
      if (options.raw === true) {
        bytes = await readBounded(response.body, statement_bytes_max);
        text = '';
      } else {
        text = await response.body.text();
      }
    } catch (error) {
      throw transportError(operation, error);
    }
    if (bytes !== undefined) return { status, text, bytes };
    // 5xx is ambiguous whatever its signature says; everything else must be WeChat's own word.
    if (status < 500 && options.verify) {
      const verdict = verifyResponse(response_headers, text, settings);
      if (!verdict.ok) {
        throw new ChannelError('ambiguous', 'BAD_RESPONSE_SIGNATURE',
          `wechatpay ${operation}: HTTP ${status} answer failed verification (${verdict.reason})`);
      }
    }
    return { status, text };
  }
}

function transportError(operation: string, error: unknown): ChannelError {
  return sharedTransportError('wechatpay', operation, error);
}

/** Reads a response body, refusing it past `bytes_max`. */
async function readBounded(body: AsyncIterable<unknown> & { destroy(): unknown }, bytes_max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of body) {
    bytes += (chunk as Buffer).length;
    if (bytes > bytes_max) {
      body.destroy();
      throw new ChannelError('ambiguous', 'STATEMENT_TOO_LARGE', `wechatpay: body over ${bytes_max} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
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
registerStatementParser('wechatpay', (bytes, channel_id) => parseTradeBill(bytes.toString('utf8'), channel_id));
