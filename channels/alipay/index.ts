// The Alipay open platform channel adapter (public-key mode, RSA2): ALIPAY_QR through
// alipay.trade.precreate, BARCODE through alipay.trade.pay, and ALIPAY_APP / ALIPAY_WAP /
// ALIPAY_PC as signed client-side orders (no server call: the trade exists at Alipay only once
// the payer opens it, so until then query answers not_found and close answers closed). Query,
// close, refund, refund query, the asynchronous notification (answered with plain `success`)
// and the 业务明细 bill; with the setting profit_sharing 'true', 交易分账 (royalty.ts: payments
// created with royalty_freeze, receivers bound, alipay.trade.order.settle and its query, shares
// taken back inside the refund). HTTP and error classification live here; payload shapes and status
// mapping in transformers.ts, signatures in crypto.ts.
//
// Never logged, never in an error message: key material, signatures, auth codes, buyer ids.

import { Pool, request as undiciRequest } from 'undici';
import type { KeyObject } from 'node:crypto';
import {
  ChannelError, registerChannel, registerStatementParser, unsupported,
  type AttemptRef, type AttemptStatus, type Channel, type ChannelConfig, type CloseOutcome, type HttpAnswer,
  type IncomingNotification, type ParsedNotification, type PayRequest, type ProductName, type RefundRef,
  type RefundRequest, type RefundStatus, type StatementFile, type StatementRow, type PayerElements,
  type ProfitSharing, type ShareOutcome, type ShareRequest,
} from '../channel';
import { parseForm } from '../shared/form';
import { decodeGbk } from '../shared/gbk';
import { isCalendarDate, settingsReader, transportError, providerPool, providerProducts, timeout_ms_default, timeout_ms_max, timeout_ms_min } from '../shared/http';
import { readZip } from '../shared/zip';
import { signParams, verifyNotificationParams, verifyResponse } from './crypto';
import {
  ALIPAY_PRODUCTS, METHODS, clientSideAction, fromCancelResponse, fromCloseResponse, fromCreateResponse, fromQueryResponse,
  fromRefundQueryResponse, fromRefundResponse, gatewayParams, isDetailEntry, notificationAnswer, parseBill,
  readNotification, toPayBiz, toRefundBiz, toRefundQueryBiz, type AlipayResponseBase, alipay_auth_code_pattern,
} from './transformers';

import {
  ROYALTY_METHODS, fromBindResponse, fromSettleQueryResponse, fromSettleResponse, toBindBiz, toSettleBiz, toSettleQueryBiz, type AlipayReceiverType,
} from './royalty';

export * as alipayCrypto from './crypto';
export * as alipayRoyalty from './royalty';
export * as alipayTransformers from './transformers';

/** A bill archive larger than this is refused (a day of a large merchant is a few MiB zipped). */
const statement_archive_bytes_max = 64 * 1024 * 1024;
/** The bill download URL is fetched with this budget (Alipay's URL is valid for 30 s). */
const statement_timeout_ms = 30_000;

interface AlipaySettings {
  gateway_url: URL;
  app_id: string;
  app_private_key: KeyObject;
  alipay_public_key: KeyObject;
  /** The seller's PID (2088…): notifications for another seller are refused. */
  seller_id: string | undefined;
  /** Where Alipay sends the payer back after WAP / PC payment. */
  return_url: string | undefined;
  timeout_ms: number;
  /** 交易分账 (royalty.ts): payments are created with extend_params.royalty_freeze and split at
   * Alipay; receivers are named as `receiver_type`. Undefined: split in the books only. */
  profit_sharing: { receiver_type: AlipayReceiverType } | undefined;
}

/** Validates config.settings once; an error names the key, never its value. */
function parseSettings(channel_id: string, settings: Record<string, string>): AlipaySettings {
  const read = settingsReader(channel_id, settings);
  const gateway_url = read.attempt('gateway_url', 'is not a URL', () => new URL(read.required('gateway_url')));
  if (gateway_url.protocol !== 'https:' && gateway_url.protocol !== 'http:') read.fail('gateway_url', 'must be http(s)');
  if (gateway_url.search !== '' || gateway_url.hash !== '') read.fail('gateway_url', 'must not carry a query');
  const seller_id = read.optional('seller_id');
  if (seller_id !== undefined && !/^2088\d{12}$/.test(seller_id)) read.fail('seller_id', 'must be a 16-digit PID starting 2088');
  const return_url = read.optional('return_url');
  if (return_url !== undefined) read.attempt('return_url', 'is not a URL', () => new URL(return_url));
  const profit_sharing = read.optional('profit_sharing') ?? 'false';
  if (profit_sharing !== 'true' && profit_sharing !== 'false') read.fail('profit_sharing', "must be 'true' or 'false'");
  const receiver_type = read.optional('royalty_receiver_type') ?? 'userId';
  if (receiver_type !== 'userId' && receiver_type !== 'loginName') read.fail('royalty_receiver_type', 'must be userId or loginName');
  return {
    gateway_url,
    app_id: read.required('app_id'),
    app_private_key: read.privateKey('app_private_key_pem'),
    alipay_public_key: read.publicKey('alipay_public_key_pem'),
    seller_id,
    return_url,
    timeout_ms: read.integer('timeout_ms', timeout_ms_default, timeout_ms_min, timeout_ms_max),
    profit_sharing: profit_sharing === 'true' ? { receiver_type: receiver_type as AlipayReceiverType } : undefined,
  };
}

class AlipayChannel implements Channel {
  readonly channel_id: string;
  readonly provider = 'alipay';
  readonly products: readonly ProductName[];

  /** A payment code is Alipay's only when it has Alipay's prefix (25-30). */
  accepts(product: ProductName, payer: PayerElements): boolean {
    return product !== 'BARCODE' || (payer.auth_code !== undefined && alipay_auth_code_pattern.test(payer.auth_code));
  }
  readonly #settings: AlipaySettings;
  readonly #pool: Pool;
  readonly profit_sharing: ProfitSharing | undefined;
  /** Receivers bound at Alipay by this process (binding one again is harmless, just a call). */
  readonly #receivers_bound = new Set<string>();
  /** settle_no of the settles this process sent, by out_request_no (the query does not answer it). */
  readonly #settle_nos = new Map<string, string>();

  constructor(config: ChannelConfig) {
    this.channel_id = config.channel_id;
    this.products = providerProducts(config, ALIPAY_PRODUCTS, 'Alipay');
    this.#settings = parseSettings(config.channel_id, config.settings);
    // Alipay takes a 当面付 trade's royalty back pro rata by itself on refund (outside 直付通 it
    // takes no refund_royalty_parameters); paycore takes the receivers' shares first and tells
    // Alipay which: only the products where Alipay takes them as told (APP, WAP, PC).
    const face_to_face = this.products.filter((p) => p === 'ALIPAY_QR' || p === 'BARCODE');
    if (this.#settings.profit_sharing !== undefined && face_to_face.length > 0) {
      throw new Error(`channel ${config.channel_id}: settings.profit_sharing: Alipay returns the royalty of 当面付 products (${face_to_face.join(', ')}) `
        + 'pro rata by itself, which paycore does not model; a profit-sharing channel lists only ALIPAY_APP, ALIPAY_WAP, ALIPAY_PC');
    }
    this.#pool = providerPool(this.#settings.gateway_url.origin, this.#settings.timeout_ms);
    this.profit_sharing = this.#settings.profit_sharing === undefined ? undefined : {
      returns_in_refund: true,
      share: (request) => this.#settle(request),
      queryShare: (request) => this.#querySettle(request),
      // Alipay takes shares back inside the refund (refund_royalty_parameters): no return call.
      returnShare: () => Promise.reject(unsupported(this.channel_id, 'profit-sharing returns apart from a refund (Alipay returns shares inside alipay.trade.refund)')),
      queryReturn: () => Promise.reject(unsupported(this.channel_id, 'profit-sharing return queries')),
    };
  }

  /** Binds the receivers this process has not bound yet, then asks for the settle
   * (out_request_no = share_no, so a resend is the same settle). A bind Alipay refuses does not
   * stop the settle (the receiver may be bound already, by another process or the merchant):
   * the settle is the authority, and Alipay refuses it for a receiver that is not bound. */
  async #settle(request: ShareRequest): Promise<ShareOutcome> {
    const type = this.#settings.profit_sharing!.receiver_type;
    const biz = toSettleBiz(request, type);
    for (const receiver of request.receivers) {
      if (this.#receivers_bound.has(receiver.account)) continue;
      try {
        fromBindResponse(await this.#call('royalty relation bind', ROYALTY_METHODS.bind, toBindBiz(type, receiver.account)));
        this.#receivers_bound.add(receiver.account);
      } catch (error) {
        if (!(error instanceof ChannelError) || error.kind !== 'rejected') throw error;
      }
    }
    const { settle_no } = fromSettleResponse(await this.#call('order settle', ROYALTY_METHODS.settle, biz));
    if (settle_no !== undefined) this.#rememberSettle(request.share_no, settle_no);
    // royalty_mode async: the details are settled later; the query says how they ended.
    return { kind: 'processing' };
  }

  async #querySettle(request: ShareRequest): Promise<ShareOutcome> {
    const body = await this.#call('order settle query', ROYALTY_METHODS.settle_query, toSettleQueryBiz(request.share_no, request.channel_trade_no));
    return fromSettleQueryResponse(body, request, this.#settle_nos.get(request.share_no) ?? request.share_no);
  }

  #rememberSettle(share_no: string, settle_no: string): void {
    if (this.#settle_nos.size >= 10_000) this.#settle_nos.delete(this.#settle_nos.keys().next().value!);
    this.#settle_nos.set(share_no, settle_no);
  }

  async pay(request: PayRequest): Promise<AttemptStatus> {
    if (!this.products.includes(request.product)) throw unsupported(this.channel_id, `product ${request.product}`);
    const settings = this.#settings;
    const { method, biz } = toPayBiz(request, settings.profit_sharing !== undefined);
    if (request.product === 'ALIPAY_APP' || request.product === 'ALIPAY_WAP' || request.product === 'ALIPAY_PC') {
      const return_url = request.product === 'ALIPAY_APP' ? undefined : settings.return_url;
      const params = gatewayParams(method, biz, { app_id: settings.app_id, now: new Date() }, { notify_url: request.notify_url, return_url });
      const signed = signParams(params, settings.app_private_key);
      return { kind: 'action_required', next_action: clientSideAction(request.product, settings.gateway_url.href, signed) };
    }
    const body = await this.#call(request.product === 'BARCODE' ? 'pay' : 'precreate', method, biz, request.notify_url);
    this.#checkTrade(body, request.attempt_id, method);
    const status = fromCreateResponse(request.product, body);
    return status === 'query' ? this.query(request) : status;
  }

  async query(attempt: AttemptRef): Promise<AttemptStatus> {
    const body = await this.#call('query', METHODS.query, { out_trade_no: attempt.attempt_id });
    this.#checkTrade(body, attempt.attempt_id, METHODS.query);
    return fromQueryResponse(body);
  }

  async close(attempt: AttemptRef): Promise<CloseOutcome> {
    if (attempt.product === 'BARCODE') return this.#cancel(attempt);
    const body = await this.#call('close', METHODS.close, { out_trade_no: attempt.attempt_id });
    if (fromCloseResponse(body) !== 'query') return { kind: 'closed' };
    // TRADE_STATUS_ERROR: the trade is no longer open; ask what it became.
    const status = await this.query(attempt);
    if (status.kind === 'succeeded') return { kind: 'already_paid' };
    if (status.kind === 'closed' || status.kind === 'not_found') return { kind: 'closed' };
    throw new ChannelError('ambiguous', 'TRADE_STATUS_ERROR', `alipay close: trade is in state ${status.kind} and cannot be closed`);
  }

  async refund(request: RefundRequest): Promise<RefundStatus> {
    const body = await this.#call('refund', METHODS.refund, toRefundBiz(request, this.#settings.profit_sharing?.receiver_type));
    const status = fromRefundResponse(body, request);
    return status === 'query' ? this.queryRefund(request) : status;
  }

  async queryRefund(ref: RefundRef): Promise<RefundStatus> {
    return fromRefundQueryResponse(await this.#call('refund query', METHODS.refund_query, toRefundQueryBiz(ref.attempt.attempt_id, ref.refund_id)));
  }

  parseNotification(notification: IncomingNotification): ParsedNotification {
    const settings = this.#settings;
    const params = parseForm(notification.body.toString('utf8'));
    if (params === undefined) throw new ChannelError('bad_signature', 'MALFORMED', 'alipay notification is not a form');
    if (!verifyNotificationParams(params, settings.alipay_public_key)) {
      throw new ChannelError('bad_signature', 'BAD_SIGNATURE', 'alipay notification failed verification');
    }
    if (params.app_id !== settings.app_id) throw new ChannelError('bad_signature', 'APP_ID_MISMATCH', 'alipay notification is for another app');
    if (settings.seller_id !== undefined && params.seller_id !== undefined && params.seller_id !== settings.seller_id) {
      throw new ChannelError('bad_signature', 'SELLER_MISMATCH', 'alipay notification is for another seller');
    }
    const meaning = readNotification(params);
    if (meaning.type === 'payment') return { attempt_id: meaning.attempt_id, status: meaning.status };
    // refund_fee in a notification is the trade's cumulative refund, not this refund's amount:
    // the notification says "look", alipay.trade.fastpay.refund.query says how much.
    return {
      type: 'refund',
      refund_id: meaning.refund_id,
      attempt_id: meaning.attempt_id,
      status: meaning.channel_trade_no === undefined ? { kind: 'pending' } : { kind: 'pending', channel_refund_no: meaning.channel_trade_no },
    };
  }

  notificationAnswer(accepted: boolean): HttpAnswer {
    return notificationAnswer(accepted);
  }

  /** The 业务明细 rows of a bill date (YYYY-MM-DD, China time). */
  async downloadStatement(date: string): Promise<StatementRow[]> {
    return parseBillArchive((await this.downloadStatementFile(date)).bytes, this.channel_id);
  }

  /** The bill archive of a date as Alipay serves it (alipay.data.dataservice.bill.downloadurl.query,
   * bill_type trade: a short-lived URL to a ZIP of GBK CSVs); empty for a day without a bill
   * (isp.bill_not_exist). The archive is not signed: its URL came in the signed answer. */
  async downloadStatementFile(date: string): Promise<StatementFile> {
    if (!isCalendarDate(date)) throw new ChannelError('rejected', 'INVALID_PARAMETER', 'statement date must be YYYY-MM-DD');
    const body = await this.#call('bill', METHODS.bill, { bill_type: 'trade', bill_date: date });
    if (body.code === '40004' && body.sub_code === 'isp.bill_not_exist') return { format: 'alipay', bytes: Buffer.alloc(0) };
    if (body.code !== '10000') throw new ChannelError(body.code === '20000' ? 'ambiguous' : 'rejected', String(body.sub_code ?? body.code), `alipay bill: ${body.code} ${body.sub_msg ?? body.msg ?? ''}`);
    if (typeof body.bill_download_url !== 'string') throw new ChannelError('ambiguous', 'BAD_RESPONSE', 'alipay bill answer has no bill_download_url');
    return { format: 'alipay', bytes: await fetchBounded(body.bill_download_url, statement_archive_bytes_max) };
  }

  /**
   * Closing a payment-code trade is alipay.trade.cancel: the payer's wait is over. Policy: a
   * trade the payer completed before it is kept (already_paid, settled by query); only an
   * unpaid one is cancelled (should the payer pay in between, the cancel refunds it).
   */
  async #cancel(attempt: AttemptRef): Promise<CloseOutcome> {
    const status = await this.query(attempt);
    if (status.kind === 'succeeded') return { kind: 'already_paid' };
    if (status.kind === 'not_found' || status.kind === 'closed') return { kind: 'closed' };
    return fromCancelResponse(await this.#call('close', METHODS.cancel, { out_trade_no: attempt.attempt_id }));
  }

  async close_connections(): Promise<void> {
    await this.#pool.close();
  }

  /** A signed gateway call; returns the verified `*_response` object. */
  async #call(
    operation: string, method: string, biz: object, notify_url?: string,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each operation's answer has its own fields, read by its caller
  ): Promise<AlipayResponseBase & Record<string, any>> {
    const settings = this.#settings;
    const params = signParams(gatewayParams(method, biz, { app_id: settings.app_id, now: new Date() }, { notify_url }), settings.app_private_key);
    const form = new URLSearchParams(params).toString();
    let status: number;
    let text: string;
    try {
      const response = await this.#pool.request({
        method: 'POST',
        path: `${settings.gateway_url.pathname}?charset=utf-8`,
        headers: { 'content-type': 'application/x-www-form-urlencoded;charset=utf-8', accept: 'application/json', 'user-agent': 'paycore-alipay/0.1' },
        body: form,
        headersTimeout: settings.timeout_ms,
        bodyTimeout: settings.timeout_ms,
      });
      status = response.statusCode;
      text = await response.body.text();
    } catch (error) {
      throw transportError('alipay', operation, error);
    }
    // Alipay answers 200 for every business outcome; anything else is a proxy or an outage.
    if (status !== 200) throw new ChannelError('ambiguous', `HTTP_${status}`, `alipay ${operation}: HTTP ${status}`);
    const verdict = verifyResponse(text, method, settings.alipay_public_key);
    if (!verdict.ok) {
      throw new ChannelError('ambiguous', 'BAD_RESPONSE_SIGNATURE', `alipay ${operation}: answer failed verification (${verdict.reason})`);
    }
    if (typeof verdict.body.code !== 'string') throw new ChannelError('ambiguous', 'BAD_RESPONSE', `alipay ${operation}: answer has no code`);
    return verdict.body as AlipayResponseBase & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- see #call's type
  }

  /** An answer about another trade is not an answer about ours. */
  #checkTrade(body: Record<string, unknown>, out_trade_no: string, method: string): void {
    if (body.code === '10000' && typeof body.out_trade_no === 'string' && body.out_trade_no !== out_trade_no) {
      throw new ChannelError('ambiguous', 'BAD_RESPONSE', `alipay ${method}: answer is for another out_trade_no`);
    }
  }
}

/** GET of a provider's download URL, refused past `bytes_max`. */
async function fetchBounded(url: string, bytes_max: number): Promise<Buffer> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new ChannelError('ambiguous', 'BAD_RESPONSE', 'alipay bill_download_url is not a URL');
  }
  if (target.protocol !== 'https:' && target.protocol !== 'http:') throw new ChannelError('ambiguous', 'BAD_RESPONSE', 'alipay bill_download_url is not http(s)');
  try {
    const response = await undiciRequest(target, { method: 'GET', headersTimeout: statement_timeout_ms, bodyTimeout: statement_timeout_ms });
    if (response.statusCode !== 200) {
      await response.body.dump();
      throw new ChannelError('ambiguous', `HTTP_${response.statusCode}`, `alipay bill download: HTTP ${response.statusCode}`);
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of response.body) {
      bytes += (chunk as Buffer).length;
      if (bytes > bytes_max) {
        response.body.destroy();
        throw new ChannelError('ambiguous', 'STATEMENT_TOO_LARGE', `alipay bill archive over ${bytes_max} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  } catch (error) {
    throw transportError('alipay', 'bill download', error);
  }
}

/** A bill archive's 业务明细 file (not its 汇总 summary), decoded from GBK, as rows; an empty
 * archive is a day without a bill. */
async function parseBillArchive(archive: Buffer, channel_id: string): Promise<StatementRow[]> {
  if (archive.length === 0) return [];
  let entries;
  try {
    entries = await readZip(archive);
  } catch (error) {
    throw new ChannelError('ambiguous', 'BAD_STATEMENT', `alipay bill: ${(error as Error).message}`);
  }
  const detail = entries.find((entry) => isDetailEntry(entry.name));
  if (detail === undefined) throw new ChannelError('ambiguous', 'BAD_STATEMENT', 'alipay bill archive has no 业务明细 file');
  return parseBill(decodeGbk(detail.data), channel_id);
}

registerChannel('alipay', (config) => new AlipayChannel(config));
registerStatementParser('alipay', parseBillArchive);
