// The China UnionPay 全渠道 无跳转 token channel adapter (UNIONPAY_QUICK, ACP 5.1.0): pay sends
// the 消费短信 for the payer's bound card token and amount and answers SMS_CODE; confirm sends
// the 消费 with the code; query (交易状态查询), refund (退货, with the refund query), the signed
// backUrl notification (answered HTTP 200 `ok`). close has nothing to call: an SMS order that
// is never confirmed takes no money, so close asks what the order became and answers closed
// unless it was paid. The 对账文件 comes through the file transfer (settings.file_transfer_url,
// UnionPay's file host by default) and is read from its ZM file.
//
// orderId and txnTime: UnionPay identifies an order by merId + orderId + txnTime, and the
// consume and every query must repeat the SMS request's txnTime. orderId is the attempt id
// (refunds: the refund id); txnTime is the attempt's `requested_at` (refunds: the refund's)
// when the caller passes it, else the time this process first sent it, remembered in a
// bounded map. Without either (another process, a restart) query throws ambiguous
// TXN_TIME_UNKNOWN: callers should persist and pass requested_at.
//
// Never logged, never in an error message: key material, signatures, card tokens, SMS codes.

import { Pool, request as undiciRequest } from 'undici';
import type { KeyObject } from 'node:crypto';
import {
  ChannelError, registerChannel, registerStatementParser, unsupported,
  type AttemptRef, type AttemptStatus, type Channel, type ChannelConfig, type CloseOutcome, type ConfirmRequest, type HttpAnswer,
  type BindCardRequest, type IncomingNotification, type ParsedNotification, type PayerElements, type PayerProblem, type PayRequest, type ProductName,
  type RefundRef,
  type RefundRequest, type RefundStatus, type StatementFile, type StatementRow,
} from '../channel';
import { inflateSync } from 'node:zlib';
import { readZip } from '../shared/zip';
import { parseForm } from '../shared/form';
import { isCalendarDate, settingsReader, transportError, providerPool, providerProducts, timeout_ms_default, timeout_ms_max, timeout_ms_min } from '../shared/http';
import { signParams, verifyParams } from './crypto';
import {
  ENDPOINTS, UNIONPAY_PRODUCTS, card_token_pattern, fromConsumeResponse, fromQueryResponse, fromRefundQueryResponse, fromRefundResponse, fromSmsResponse,
  notificationAnswer, parseResponse, readNotification, toConsumeParams, toQueryParams, toRefundParams, toSmsParams, txnTimeOf,
  bindingAnswer, phoneHint, toDeleteTokenParams, toOpenParams, toOpenSmsParams, tokenOfOpenAnswer, toFileTransferParams, zmEntryDate, parseZmFile,
  type UnionpayAnswer, type UnionpayMerchant,
} from './transformers';

export * as unionpayCrypto from './crypto';
export * as unionpayTransformers from './transformers';

/** A 对账文件 archive larger than this is refused. */
const statement_archive_bytes_max = 256 * 1024 * 1024;
/** The file transfer gets this budget whatever settings.timeout_ms says. */
const statement_timeout_ms = 60_000;
/** Where UnionPay's file transfer answers (its own host, not the gateway's). */
const file_transfer_url_default = 'https://filedownload.95516.com/';

/** txnTimes remembered for callers that do not pass requested_at (oldest forgotten first). */
const txn_times_max = 100_000;

interface UnionpaySettings {
  base_url: URL;
  merchant: UnionpayMerchant;
  sign_cert_id: string;
  sign_private_key: KeyObject;
  verify_cert_id: string;
  verify_public_key: KeyObject;
  timeout_ms: number;
  file_transfer_url: URL;
}

/** Validates config.settings once; an error names the key, never its value. */
function parseSettings(channel_id: string, settings: Record<string, string>): UnionpaySettings {
  const read = settingsReader(channel_id, settings);
  const base_url = read.attempt('base_url', 'is not a URL', () => new URL(read.required('base_url')));
  if (base_url.protocol !== 'https:' && base_url.protocol !== 'http:') read.fail('base_url', 'must be http(s)');
  if (base_url.search !== '' || base_url.hash !== '') read.fail('base_url', 'must not carry a query');
  const mer_id = read.required('mer_id');
  if (!/^[0-9A-Za-z]{15}$/.test(mer_id)) read.fail('mer_id', 'must be the 15-character merchant code');
  const tr_id = read.required('tr_id');
  if (!/^\d{11}$/.test(tr_id)) read.fail('tr_id', 'must be the 11-digit token requester id');
  const access_type = read.optional('access_type') ?? '0';
  if (access_type !== '0' && access_type !== '2') read.fail('access_type', "must be '0' (direct merchant) or '2' (platform)");
  const channel_type = read.optional('channel_type') ?? '07';
  if (channel_type !== '07' && channel_type !== '08') read.fail('channel_type', "must be '07' (internet) or '08' (mobile)");
  const cert_id = (key: string) => {
    const value = read.required(key);
    if (!/^\d{1,32}$/.test(value)) read.fail(key, 'must be a certificate serial number (digits)');
    return value;
  };
  return {
    base_url,
    merchant: { mer_id, tr_id, access_type, channel_type },
    sign_cert_id: cert_id('sign_cert_id'),
    sign_private_key: read.privateKey('sign_private_key_pem'),
    verify_cert_id: cert_id('verify_cert_id'),
    verify_public_key: read.publicKey('verify_public_key_pem'),
    timeout_ms: read.integer('timeout_ms', timeout_ms_default, timeout_ms_min, timeout_ms_max),
    file_transfer_url: read.attempt('file_transfer_url', 'is not an http(s) URL', () => {
      const url = new URL(read.optional('file_transfer_url') ?? file_transfer_url_default);
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('not http(s)');
      return url;
    }),
  };
}

class UnionpayChannel implements Channel {
  readonly channel_id: string;
  readonly provider = 'unionpay';
  readonly products: readonly ProductName[];
  /** 退货 works on consumes up to about eleven months old. */
  readonly refund_policy = { window_days: 330, count_max: 50 };

  /** 无跳转 pays with a bound card token as 开通 issued it. */
  payerProblems(product: ProductName, payer: PayerElements): PayerProblem[] {
    if (product !== 'UNIONPAY_QUICK' || (payer.card_token !== undefined && card_token_pattern.test(payer.card_token))) return [];
    return [{ field: 'payer.card_token', description: 'must be a UnionPay bound card token: 1 to 64 letters and digits' }];
  }

  readonly #settings: UnionpaySettings;
  readonly #pool: Pool;
  readonly #txn_times = new Map<string, string>();

  constructor(config: ChannelConfig) {
    this.channel_id = config.channel_id;
    this.products = providerProducts(config, UNIONPAY_PRODUCTS, 'UnionPay');
    this.#settings = parseSettings(config.channel_id, config.settings);
    this.#pool = providerPool(this.#settings.base_url.origin, this.#settings.timeout_ms);
  }

  async pay(request: PayRequest): Promise<AttemptStatus> {
    if (!this.products.includes(request.product)) throw unsupported(this.channel_id, `product ${request.product}`);
    const txn_time = this.#txnTime(request.attempt_id, request.requested_at, true);
    const params = toSmsParams(request, this.#settings.merchant, txn_time);
    return fromSmsResponse(await this.#call('sms', ENDPOINTS.back_trans, params));
  }

  async confirm(request: ConfirmRequest): Promise<AttemptStatus> {
    if (!this.products.includes(request.attempt.product)) throw unsupported(this.channel_id, `product ${request.attempt.product}`);
    const txn_time = this.#txnTime(request.attempt.attempt_id, request.attempt.requested_at, false);
    const answer = await this.#call('consume', ENDPOINTS.back_trans, toConsumeParams(request, this.#settings.merchant, txn_time));
    const status = fromConsumeResponse(answer);
    if (status !== 'query') return status;
    // Accepted: the query says whether the money moved.
    try {
      const queried = await this.query(request.attempt);
      return queried.kind === 'not_found' ? pendingWith(answer.queryId) : queried;
    } catch (error) {
      if (error instanceof ChannelError && error.kind !== 'unsupported') return pendingWith(answer.queryId);
      throw error;
    }
  }

  async query(attempt: AttemptRef): Promise<AttemptStatus> {
    const txn_time = this.#txnTime(attempt.attempt_id, attempt.requested_at, false);
    return fromQueryResponse(await this.#call('query', ENDPOINTS.query, toQueryParams(attempt.attempt_id, txn_time, this.#settings.merchant)));
  }

  /** Nothing to close at UnionPay: an unconfirmed SMS order expires by itself. */
  async close(attempt: AttemptRef): Promise<CloseOutcome> {
    const status = await this.query(attempt);
    if (status.kind === 'succeeded') return { kind: 'already_paid' };
    if (status.kind === 'pending') {
      throw new ChannelError('ambiguous', 'TRADE_PROCESSING', 'unionpay close: the consume is still processing');
    }
    return { kind: 'closed' };
  }

  async refund(request: RefundRequest): Promise<RefundStatus> {
    let orig_qry_id = request.channel_trade_no;
    if (orig_qry_id === undefined || orig_qry_id === '') {
      const paid = await this.query(request.attempt);
      if (paid.kind !== 'succeeded') {
        return { kind: 'failed', code: 'ORIGINAL_NOT_PAID', message: `unionpay refund: the consume is ${paid.kind}`, retryable: paid.kind === 'pending' };
      }
      orig_qry_id = paid.channel_trade_no;
    }
    const txn_time = this.#txnTime(request.refund_id, request.requested_at, true);
    const answer = await this.#call('refund', ENDPOINTS.back_trans, toRefundParams(request, orig_qry_id, this.#settings.merchant, txn_time));
    const status = fromRefundResponse(answer);
    if (status !== 'query') return status;
    try {
      const queried = await this.queryRefund({ refund_id: request.refund_id, attempt: request.attempt, requested_at: request.requested_at });
      return queried.kind === 'not_found' ? { kind: 'pending' } : queried;
    } catch (error) {
      if (error instanceof ChannelError) return answer.queryId ? { kind: 'pending', channel_refund_no: answer.queryId } : { kind: 'pending' };
      throw error;
    }
  }

  async queryRefund(ref: RefundRef): Promise<RefundStatus> {
    const txn_time = this.#txnTime(ref.refund_id, ref.requested_at, false);
    return fromRefundQueryResponse(await this.#call('refund query', ENDPOINTS.query, toQueryParams(ref.refund_id, txn_time, this.#settings.merchant)));
  }

  parseNotification(notification: IncomingNotification): ParsedNotification {
    const settings = this.#settings;
    const fields = parseForm(notification.body.toString('utf8'));
    if (fields === undefined) throw new ChannelError('bad_signature', 'MALFORMED', 'unionpay notification is not a form');
    const verdict = verifyParams(fields, settings.verify_cert_id, settings.verify_public_key);
    if (!verdict.ok) throw new ChannelError('bad_signature', 'BAD_SIGNATURE', `unionpay notification failed verification (${verdict.reason})`);
    if (fields.merId !== settings.merchant.mer_id) throw new ChannelError('bad_signature', 'MER_ID_MISMATCH', 'unionpay notification is for another merchant');
    const meaning = readNotification(fields);
    if (meaning.type === 'payment') return { attempt_id: meaning.attempt_id, status: meaning.status };
    return { type: 'refund', refund_id: meaning.refund_id, attempt_id: meaning.attempt_id, status: meaning.status };
  }

  notificationAnswer(accepted: boolean): HttpAnswer {
    return notificationAnswer(accepted);
  }

  /** The transactions of a clearing date (YYYY-MM-DD): the 对账文件's ZM records. */
  async downloadStatement(date: string): Promise<StatementRow[]> {
    return parseFileArchive((await this.downloadStatementFile(date)).bytes, this.channel_id);
  }

  /** The 对账文件 of a clearing date through the file transfer (txnType 76 / 01, bizType 000000,
   * fileType 00): the archive as UnionPay packed it (a ZIP), taken from the signed answer's
   * fileContent (Base64 of its deflated bytes); empty when UnionPay has no file for the day (98). */
  async downloadStatementFile(date: string): Promise<StatementFile> {
    if (!isCalendarDate(date)) throw new ChannelError('rejected', 'INVALID_PARAMETER', 'statement date must be YYYY-MM-DD');
    const answer = await this.#send('file transfer', this.#settings.file_transfer_url, toFileTransferParams(date, this.#settings.merchant, txnTimeOf(new Date())));
    if (answer.respCode === '98') return { format: 'unionpay', bytes: Buffer.alloc(0) };
    if (answer.respCode !== '00') throw new ChannelError(answer.respCode === '03' || answer.respCode === '04' ? 'ambiguous' : 'rejected', answer.respCode ?? 'UNKNOWN', `unionpay file transfer: ${answer.respCode} ${answer.respMsg ?? ''}`);
    if (answer.fileContent === undefined || answer.fileContent === '') throw new ChannelError('ambiguous', 'BAD_RESPONSE', 'unionpay file transfer: answer has no fileContent');
    try {
      return { format: 'unionpay', bytes: inflateSync(Buffer.from(answer.fileContent, 'base64'), { maxOutputLength: statement_archive_bytes_max }) };
    } catch (error) {
      throw new ChannelError('ambiguous', 'BAD_STATEMENT', `unionpay file transfer: fileContent does not inflate (${(error as Error).message})`);
    }
  }

  async bindCard(request: BindCardRequest): Promise<{ phone_hint: string }> {
    const txn_time = txnTimeOf(request.requested_at);
    const answer = bindingAnswer('open sms', await this.#call('open sms', ENDPOINTS.back_trans, toOpenSmsParams(request.binding_id, request.card, this.#settings.merchant, txn_time)));
    return { phone_hint: phoneHint(answer.customerInfo) };
  }

  async confirmBinding(request: BindCardRequest & { verification_code: string }): Promise<{ card_token: string }> {
    const params = toOpenParams(request.binding_id, request.card, request.verification_code, this.#settings.merchant, txnTimeOf(request.requested_at));
    return { card_token: tokenOfOpenAnswer(bindingAnswer('open', await this.#call('open', ENDPOINTS.back_trans, params))) };
  }

  async unbindCard(card_token: string, request: { binding_id: string; requested_at: Date }): Promise<void> {
    bindingAnswer('delete token', await this.#call('delete token', ENDPOINTS.back_trans, toDeleteTokenParams(request.binding_id, card_token, this.#settings.merchant, txnTimeOf(request.requested_at))));
  }

  async close_connections(): Promise<void> {
    await this.#pool.close();
  }

  /** The txnTime of an order: the caller's requested_at, else what this process first sent. */
  #txnTime(order_id: string, requested_at: Date | undefined, first_send: boolean): string {
    if (requested_at !== undefined) return txnTimeOf(requested_at);
    const known = this.#txn_times.get(order_id);
    if (known !== undefined) return known;
    if (!first_send) {
      throw new ChannelError('ambiguous', 'TXN_TIME_UNKNOWN', `unionpay: the txnTime of order ${order_id} is not known here (pass requested_at)`);
    }
    const txn_time = txnTimeOf(new Date());
    if (this.#txn_times.size >= txn_times_max) this.#txn_times.delete(this.#txn_times.keys().next().value!);
    this.#txn_times.set(order_id, txn_time);
    return txn_time;
  }

  /** A signed backTrans / query call; returns the verified answer fields. */
  #call(operation: string, path: string, params: Record<string, string>): Promise<UnionpayAnswer> {
    return this.#send(operation, undefined, params, path);
  }

  /** Sends a signed message to the gateway (`path`) or to another host (`url`: the file
   * transfer's), and verifies the answer. */
  async #send(operation: string, url: URL | undefined, params: Record<string, string>, path = ''): Promise<UnionpayAnswer> {
    const settings = this.#settings;
    const signed = signParams(params, settings.sign_cert_id, settings.sign_private_key);
    let status: number;
    let text: string;
    try {
      const request = {
        method: 'POST' as const,
        headers: { 'content-type': 'application/x-www-form-urlencoded;charset=UTF-8', 'user-agent': 'paycore-unionpay/0.1' },
        body: new URLSearchParams(signed).toString(),
        headersTimeout: url === undefined ? settings.timeout_ms : statement_timeout_ms,
        bodyTimeout: url === undefined ? settings.timeout_ms : statement_timeout_ms,
      };
      const response = url === undefined
        ? await this.#pool.request({ ...request, path: `${settings.base_url.pathname.replace(/\/$/, '')}${path}` })
        : await undiciRequest(url, request);
      status = response.statusCode;
      text = await response.body.text();
    } catch (error) {
      throw transportError('unionpay', operation, error);
    }
    if (status !== 200) throw new ChannelError('ambiguous', `HTTP_${status}`, `unionpay ${operation}: HTTP ${status}`);
    const answer = parseResponse(text.trim());
    if (answer === undefined || answer.respCode === undefined) throw new ChannelError('ambiguous', 'BAD_RESPONSE', `unionpay ${operation}: answer is not a UnionPay message`);
    const verdict = verifyParams(answer, settings.verify_cert_id, settings.verify_public_key);
    if (!verdict.ok) {
      throw new ChannelError('ambiguous', 'BAD_RESPONSE_SIGNATURE', `unionpay ${operation}: answer failed verification (${verdict.reason})`);
    }
    // An answer about another order is not an answer about ours.
    if ((answer.merId !== undefined && answer.merId !== settings.merchant.mer_id) || (answer.orderId !== undefined && answer.orderId !== params.orderId)) {
      throw new ChannelError('ambiguous', 'BAD_RESPONSE', `unionpay ${operation}: answer is for another order`);
    }
    return answer;
  }
}

function pendingWith(query_id: string | undefined): AttemptStatus {
  return query_id ? { kind: 'pending', channel_trade_no: query_id } : { kind: 'pending' };
}

/** The ZM file of a 对账文件 archive, as rows; an empty archive is a day without a file. */
async function parseFileArchive(archive: Buffer, channel_id: string): Promise<StatementRow[]> {
  if (archive.length === 0) return [];
  let entries;
  try {
    entries = await readZip(archive);
  } catch (error) {
    throw new ChannelError('ambiguous', 'BAD_STATEMENT', `unionpay 对账文件: ${(error as Error).message}`);
  }
  const zm = entries.map((entry) => ({ entry, date: zmEntryDate(entry.name) })).find((found) => found.date !== undefined);
  if (zm === undefined) throw new ChannelError('ambiguous', 'BAD_STATEMENT', 'unionpay 对账文件: the archive has no ZM file');
  return parseZmFile(zm.entry.data.toString('latin1'), zm.date!, channel_id);
}

registerChannel('unionpay', (config) => new UnionpayChannel(config));
registerStatementParser('unionpay', parseFileArchive);
