// The generic bank gateway channel adapter (BANK_B2C, BANK_B2B), configurable per bank: pay
// signs the order and redirects the payer to the gateway's page (no server call, like Alipay
// WAP: the order exists at the bank once the payer opens it), the signed asynchronous
// notification (answered with plain `SUCCESS`), query, close, refund, refund query and the
// daily statement CSV. The protocol is documented in README.md next to this file; HTTP and
// error classification live here, payload shapes and status mapping in transformers.ts.
//
// Never logged, never in an error message: the HMAC key and signatures.

import { Pool } from 'undici';
import {
  ChannelError, registerChannel, unsupported,
  type AttemptRef, type AttemptStatus, type Channel, type ChannelConfig, type CloseOutcome, type HttpAnswer,
  type IncomingNotification, type ParsedNotification, type PayerElements, type PayerProblem, type PayRequest, type ProductName, type RefundRef,
  type PayoutOutcome, type PayoutRequest, type RefundRequest, type RefundStatus, type StatementFile, type StatementRow,
} from '../channel';
import { Secret, isCalendarDate, settingsReader, transportError, providerPool, providerProducts, timeout_ms_default, timeout_ms_max, timeout_ms_min } from '../shared/http';
import { compactChinaTime } from '../shared/china-time';
import { parseForm } from '../shared/form';
import {
  BANKGW_PRODUCTS, ENDPOINTS, fromPayoutAnswer, toPayoutFields, STATEMENT_SIGN_HEADER, VERSION, bank_code_pattern, fromCloseAnswer, fromQueryAnswer,
  fromRefundAnswer,
  fromRefundQueryAnswer, notificationAnswer, parseAnswer, parseStatement, readNotification, redirectAction, signFields,
  toPayFields, toRefundFields, verifyFields, verifyHex, type BankgwAnswer, type BankgwMerchant,
} from './transformers';

export * as bankgwTransformers from './transformers';

/** A statement larger than this is refused (a day of a large merchant is a few MiB). */
const statement_bytes_max = 64 * 1024 * 1024;
/** The statement is fetched with this budget. */
const statement_timeout_ms = 30_000;
/** HMAC keys shorter than this are refused: a guessable key signs anyone's notification. */
const hmac_key_chars_min = 32;

interface BankgwSettings {
  gateway_url: URL;
  merchant: BankgwMerchant;
  hmac_key: Secret;
  timeout_ms: number;
}

/** Validates config.settings once; an error names the key, never its value. */
function parseSettings(channel_id: string, settings: Record<string, string>): BankgwSettings {
  const read = settingsReader(channel_id, settings);
  const gateway_url = read.attempt('gateway_url', 'is not a URL', () => new URL(read.required('gateway_url')));
  if (gateway_url.protocol !== 'https:' && gateway_url.protocol !== 'http:') read.fail('gateway_url', 'must be http(s)');
  if (gateway_url.search !== '' || gateway_url.hash !== '') read.fail('gateway_url', 'must not carry a query');
  const merchant_no = read.required('merchant_no');
  if (!/^[0-9A-Za-z]{4,32}$/.test(merchant_no)) read.fail('merchant_no', 'must be 4 to 32 letters or digits');
  const hmac_key = read.required('hmac_key');
  if (hmac_key.length < hmac_key_chars_min) read.fail('hmac_key', `must be at least ${hmac_key_chars_min} characters`);
  const bank_codes = read.required('bank_codes').split(',').map((code) => code.trim()).filter((code) => code !== '');
  if (bank_codes.length === 0 || !bank_codes.every((code) => bank_code_pattern.test(code))) read.fail('bank_codes', 'must be a comma-separated list of bank codes (A-Z, 0-9)');
  const return_url = read.optional('return_url');
  if (return_url !== undefined) read.attempt('return_url', 'is not a URL', () => new URL(return_url));
  return {
    gateway_url,
    merchant: { merchant_no, bank_codes, return_url },
    hmac_key: new Secret(hmac_key),
    timeout_ms: read.integer('timeout_ms', timeout_ms_default, timeout_ms_min, timeout_ms_max),
  };
}

class BankgwChannel implements Channel {
  readonly channel_id: string;
  readonly provider = 'bankgw';
  readonly products: readonly ProductName[];
  readonly #settings: BankgwSettings;
  readonly #pool: Pool;

  /** The payer's bank must be one this gateway serves (required when it serves several). */
  payerProblems(product: ProductName, payer: PayerElements): PayerProblem[] {
    if (!this.products.includes(product)) return [];
    const codes = this.#settings.merchant.bank_codes;
    if (payer.bank_code === undefined ? codes.length === 1 : codes.includes(payer.bank_code)) return [];
    return [{ field: 'payer.bank_code', description: `must be a bank this channel serves: ${codes.join(', ')}` }];
  }

  constructor(config: ChannelConfig) {
    this.channel_id = config.channel_id;
    this.products = providerProducts(config, BANKGW_PRODUCTS, 'bank gateway');
    this.#settings = parseSettings(config.channel_id, config.settings);
    this.#pool = providerPool(this.#settings.gateway_url.origin, this.#settings.timeout_ms);
  }

  async pay(request: PayRequest): Promise<AttemptStatus> {
    if (!this.products.includes(request.product)) throw unsupported(this.channel_id, `product ${request.product}`);
    const settings = this.#settings;
    const signed = signFields(toPayFields(request, settings.merchant, new Date()), settings.hmac_key.reveal());
    return { kind: 'action_required', next_action: redirectAction(settings.gateway_url.href, signed) };
  }

  async query(attempt: AttemptRef): Promise<AttemptStatus> {
    const answer = await this.#call('query', ENDPOINTS.query, { order_no: attempt.attempt_id }, attempt.attempt_id);
    return fromQueryAnswer(answer);
  }

  async close(attempt: AttemptRef): Promise<CloseOutcome> {
    const outcome = fromCloseAnswer(await this.#call('close', ENDPOINTS.close, { order_no: attempt.attempt_id }, attempt.attempt_id));
    if (outcome !== 'query') return outcome;
    const status = await this.query(attempt);
    if (status.kind === 'succeeded') return { kind: 'already_paid' };
    if (status.kind === 'closed' || status.kind === 'failed' || status.kind === 'not_found') return { kind: 'closed' };
    throw new ChannelError('ambiguous', 'ORDER_STATUS_ERROR', `bankgw close: order is ${status.kind} and cannot be closed`);
  }

  async refund(request: RefundRequest): Promise<RefundStatus> {
    const fields = toRefundFields(request, this.#settings.merchant.merchant_no);
    return fromRefundAnswer(await this.#call('refund', ENDPOINTS.refund, fields, request.attempt.attempt_id));
  }

  async queryRefund(ref: RefundRef): Promise<RefundStatus> {
    return fromRefundQueryAnswer(await this.#call('refund query', ENDPOINTS.refund_query, { order_no: ref.attempt.attempt_id, refund_no: ref.refund_id }, ref.attempt.attempt_id));
  }

  /** A payout to a bank account (README.md, "Payouts"): the same payout_no is the same payout. */
  async payout(request: PayoutRequest): Promise<PayoutOutcome> {
    const answer = await this.#call('payout', ENDPOINTS.payout, toPayoutFields(request), undefined);
    return fromPayoutAnswer('payout', request.payout_no, answer);
  }

  async queryPayout(payout_no: string): Promise<PayoutOutcome> {
    return fromPayoutAnswer('payout query', payout_no, await this.#call('payout query', ENDPOINTS.payout_query, { payout_no }, undefined));
  }

  parseNotification(notification: IncomingNotification): ParsedNotification {
    const settings = this.#settings;
    const fields = parseForm(notification.body.toString('utf8'));
    if (fields === undefined) throw new ChannelError('bad_signature', 'MALFORMED', 'bankgw notification is not a form');
    if (!verifyFields(fields, settings.hmac_key.reveal())) throw new ChannelError('bad_signature', 'BAD_SIGNATURE', 'bankgw notification failed verification');
    if (fields.merchant_no !== settings.merchant.merchant_no) throw new ChannelError('bad_signature', 'MERCHANT_MISMATCH', 'bankgw notification is for another merchant');
    return readNotification(fields);
  }

  notificationAnswer(accepted: boolean): HttpAnswer {
    return notificationAnswer(accepted);
  }

  /** The statement of a date (YYYY-MM-DD, China time): the CSV of README.md. */
  async downloadStatement(date: string): Promise<StatementRow[]> {
    const file = await this.downloadStatementFile(date);
    return file.bytes.length === 0 ? [] : parseStatement(file.bytes.toString('utf8'), this.channel_id);
  }

  /** The statement CSV of a date as the bank sent it, its HMAC verified; empty for a day the
   * bank has no statement of (STATEMENT_NOT_EXIST). */
  async downloadStatementFile(date: string): Promise<StatementFile> {
    if (!isCalendarDate(date)) throw new ChannelError('rejected', 'INVALID_PARAMETER', 'statement date must be YYYY-MM-DD');
    const settings = this.#settings;
    const form = new URLSearchParams(this.#signed({ bill_date: date.replace(/-/g, '') })).toString();
    let status: number;
    let headers: Record<string, string | string[] | undefined>;
    let body: Buffer;
    try {
      const response = await this.#pool.request({
        method: 'POST', path: this.#path(ENDPOINTS.statement), body: form,
        headers: { 'content-type': 'application/x-www-form-urlencoded;charset=utf-8', 'user-agent': 'paycore-bankgw/0.1' },
        headersTimeout: statement_timeout_ms, bodyTimeout: statement_timeout_ms,
      });
      status = response.statusCode;
      headers = response.headers;
      const chunks: Buffer[] = [];
      let bytes = 0;
      for await (const chunk of response.body) {
        bytes += (chunk as Buffer).length;
        if (bytes > statement_bytes_max) {
          response.body.destroy();
          throw new ChannelError('ambiguous', 'STATEMENT_TOO_LARGE', `bankgw statement over ${statement_bytes_max} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
      body = Buffer.concat(chunks);
    } catch (error) {
      throw transportError('bankgw', 'statement', error);
    }
    if (status !== 200) throw new ChannelError('ambiguous', `HTTP_${status}`, `bankgw statement: HTTP ${status}`);
    const text = body.toString('utf8');
    if (String(headers['content-type'] ?? '').startsWith('application/json')) {
      const answer = this.#verifiedAnswer('statement', text);
      if (answer.error_code === 'STATEMENT_NOT_EXIST') return { format: 'bankgw', bytes: Buffer.alloc(0) };
      throw new ChannelError('ambiguous', answer.error_code ?? 'UNKNOWN', `bankgw statement: ${answer.error_code ?? 'UNKNOWN'}`);
    }
    const sign = headers[STATEMENT_SIGN_HEADER];
    if (!verifyHex(text, typeof sign === 'string' ? sign : undefined, settings.hmac_key.reveal())) {
      throw new ChannelError('ambiguous', 'BAD_RESPONSE_SIGNATURE', 'bankgw statement: body failed verification');
    }
    return { format: 'bankgw', bytes: body };
  }

  async close_connections(): Promise<void> {
    await this.#pool.close();
  }

  #path(endpoint: string): string {
    return `${this.#settings.gateway_url.pathname.replace(/\/$/, '')}${endpoint}`;
  }

  #signed(fields: Record<string, string>): Record<string, string> {
    const settings = this.#settings;
    return signFields({
      version: VERSION, merchant_no: settings.merchant.merchant_no, timestamp: compactChinaTime(new Date()), ...fields,
    }, settings.hmac_key.reveal());
  }

  /** A signed form POST; returns the verified JSON answer. */
  async #call(operation: string, endpoint: string, fields: Record<string, string>, order_no: string | undefined): Promise<BankgwAnswer> {
    const settings = this.#settings;
    let status: number;
    let text: string;
    try {
      const response = await this.#pool.request({
        method: 'POST',
        path: this.#path(endpoint),
        headers: { 'content-type': 'application/x-www-form-urlencoded;charset=utf-8', accept: 'application/json', 'user-agent': 'paycore-bankgw/0.1' },
        body: new URLSearchParams(this.#signed(fields)).toString(),
        headersTimeout: settings.timeout_ms,
        bodyTimeout: settings.timeout_ms,
      });
      status = response.statusCode;
      text = await response.body.text();
    } catch (error) {
      throw transportError('bankgw', operation, error);
    }
    if (status !== 200) throw new ChannelError('ambiguous', `HTTP_${status}`, `bankgw ${operation}: HTTP ${status}`);
    const answer = this.#verifiedAnswer(operation, text);
    if (answer.merchant_no !== settings.merchant.merchant_no || (answer.order_no !== undefined && answer.order_no !== order_no)) {
      throw new ChannelError('ambiguous', 'BAD_RESPONSE', `bankgw ${operation}: answer is for another order`);
    }
    return answer;
  }

  #verifiedAnswer(operation: string, text: string): BankgwAnswer {
    const answer = parseAnswer(text);
    if (answer === undefined) throw new ChannelError('ambiguous', 'BAD_RESPONSE', `bankgw ${operation}: answer is not a JSON object of strings`);
    if (!verifyFields(answer as Record<string, string>, this.#settings.hmac_key.reveal())) {
      throw new ChannelError('ambiguous', 'BAD_RESPONSE_SIGNATURE', `bankgw ${operation}: answer failed verification`);
    }
    return answer;
  }
}

registerChannel('bankgw', (config) => new BankgwChannel(config));
