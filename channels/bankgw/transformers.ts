// The generic bank gateway protocol (README.md next to this file) as pure functions: the
// HMAC-SHA256 signature over sorted fields, the signed payer redirect for BANK_B2C / BANK_B2B,
// answer mapping for query / close / refund / refund query, the asynchronous notification and
// the statement CSV. No I/O here; each function is unit-tested against the documented shapes.

import {
  ChannelError, type AttemptStatus, type HttpAnswer, type NextAction, type PayoutOutcome, type PayoutRequest, type PayRequest, type ProductName,
  type RefundRequest, type RefundStatus, type StatementRow,
} from '../channel';
import { compactChinaTime, parseCompactChinaTime } from '../shared/china-time';
import { hmacSha256Hex, sameSignature } from '../shared/crypto';
import { canonicalString } from '../shared/form';
import { formatYuan, parseYuan, splitCsvLine } from '../shared/http';

export const BANKGW_PRODUCTS: readonly ProductName[] = ['BANK_B2C', 'BANK_B2B'];

export const ENDPOINTS = {
  /** The payer's page (GET with the signed fields as its query). */
  pay: '/gateway/pay',
  query: '/gateway/query',
  close: '/gateway/close',
  refund: '/gateway/refund',
  refund_query: '/gateway/refund/query',
  statement: '/gateway/statement',
  payout: '/gateway/payout',
  payout_query: '/gateway/payout/query',
} as const;

export const VERSION = '1.0';
const SIGN_TYPE = 'HMAC-SHA256';
/** The statement body's signature travels in this header. */
export const STATEMENT_SIGN_HEADER = 'x-bankgw-sign';
/** order_no / refund_no: 6 to 32 letters or digits. */
const order_no_pattern = /^[0-9A-Za-z]{6,32}$/;
export const bank_code_pattern = /^[A-Z0-9]{2,16}$/;
const subject_chars_max = 128;
const provider_message_chars_max = 256;

// ---------------------------------------------------------------------------------------------
// Signature

/** Every field except `sign` with a non-empty value, sorted by name, as raw `k=v` joined by `&`. */
export function signContent(fields: Record<string, string | undefined>): string {
  return canonicalString(fields, { exclude: ['sign'], drop_empty: true });
}

/** HMAC-SHA256 of the content keyed with the merchant's key, lower-case hex. */
export const hmacHex = hmacSha256Hex;

export function signFields(fields: Record<string, string>, key: string): Record<string, string> {
  const unsigned = { ...fields, sign_type: SIGN_TYPE };
  return { ...unsigned, sign: hmacHex(signContent(unsigned), key) };
}

/** Constant-time comparison of the expected and given hex signatures. */
export function verifyHex(content: string, sign: string | undefined, key: string): boolean {
  if (sign === undefined || !/^[0-9a-f]{64}$/.test(sign)) return false;
  return sameSignature(hmacHex(content, key), sign);
}

export function verifyFields(fields: Record<string, string>, key: string): boolean {
  if (fields.sign_type !== SIGN_TYPE) return false;
  return verifyHex(signContent(fields), fields.sign, key);
}

// ---------------------------------------------------------------------------------------------
// Pay: the signed redirect

export interface BankgwMerchant {
  merchant_no: string;
  bank_codes: readonly string[];
  return_url: string | undefined;
}

/** The bank a payment goes to: the payer's choice among the configured ones, or the only one. */
export function chooseBank(request: PayRequest, bank_codes: readonly string[]): string {
  const wanted = request.payer.bank_code;
  if (wanted === undefined || wanted === '') {
    if (bank_codes.length === 1) return bank_codes[0]!;
    throw refusedLocally(`payer.bank_code is required: one of ${bank_codes.join(', ')}`);
  }
  if (!bank_codes.includes(wanted)) throw refusedLocally(`payer.bank_code ${wanted} is not served by this channel`);
  return wanted;
}

export function toPayFields(request: PayRequest, merchant: BankgwMerchant, now: Date): Record<string, string> {
  if (request.product !== 'BANK_B2C' && request.product !== 'BANK_B2B') {
    throw new ChannelError('unsupported', 'UNSUPPORTED', `bank gateway does not support product ${request.product}`);
  }
  if (!order_no_pattern.test(request.attempt_id)) throw refusedLocally('attempt_id must be 6 to 32 letters or digits to be an order_no');
  if (request.currency !== 'CNY') throw refusedLocally('the bank gateway charges CNY only');
  if (request.amount_minor <= 0n) throw refusedLocally('amount_minor must be positive');
  const fields: Record<string, string> = {
    version: VERSION,
    merchant_no: merchant.merchant_no,
    order_no: request.attempt_id,
    product: request.product === 'BANK_B2B' ? 'B2B' : 'B2C',
    bank_code: chooseBank(request, merchant.bank_codes),
    amount: formatYuan(request.amount_minor),
    currency: 'CNY',
    subject: Array.from(request.subject).slice(0, subject_chars_max).join(''),
    order_time: compactChinaTime(now),
    expire_time: compactChinaTime(request.expires_at),
    notify_url: request.notify_url,
  };
  if (merchant.return_url !== undefined) fields.return_url = merchant.return_url;
  return fields;
}

/** Signed fields → REDIRECT to the gateway's payer page, fields as a URL-encoded GET query. */
export function redirectAction(gateway_url: string, signed: Record<string, string>): NextAction {
  const query = Object.keys(signed).sort().map((name) => `${name}=${encodeURIComponent(signed[name]!)}`).join('&');
  return { type: 'REDIRECT', value: `${gateway_url.replace(/\/$/, '')}${ENDPOINTS.pay}?${query}` };
}

function refusedLocally(message: string): ChannelError {
  return new ChannelError('rejected', 'INVALID_PARAMETER', message);
}

// ---------------------------------------------------------------------------------------------
// Answers (JSON objects of string fields, signed like requests)

export interface BankgwAnswer {
  result_code?: 'SUCCESS' | 'FAIL' | string;
  error_code?: string;
  error_message?: string;
  merchant_no?: string;
  order_no?: string;
  trade_status?: 'WAIT_PAY' | 'SUCCESS' | 'FAILED' | 'CLOSED' | string;
  bank_trade_no?: string;
  amount?: string;
  paid_time?: string;
  fail_code?: string;
  refund_no?: string;
  refund_status?: 'SUCCESS' | 'PROCESSING' | 'FAILED' | string;
  bank_refund_no?: string;
  refund_amount?: string;
  refund_time?: string;
  [field: string]: string | undefined;
}

/** Error codes meaning our request was refused before the bank acted on it. None is the payer's
 * (ChannelError.payer_decline stays false): a payer's failure (fail_code PAYER_CANCELLED, …)
 * comes as trade_status FAILED, an answer rather than an error. */
const refusal_codes = new Set(['SIGN_ERROR', 'PARAM_ERROR', 'MERCHANT_ERROR', 'NO_AUTH', 'PAYOUT_NO_CONFLICT', 'ACCOUNT_INVALID', 'BALANCE_NOT_ENOUGH']);

/** A FAIL answer's error as the adapter throws it: refused, or outcome unknown. */
function answerError(operation: string, answer: BankgwAnswer): ChannelError {
  const code = answer.error_code ?? 'UNKNOWN';
  const message = `bankgw ${operation}: ${code} ${clip(answer.error_message ?? '')}`.trim();
  return new ChannelError(refusal_codes.has(code) ? 'rejected' : 'ambiguous', code, message);
}

/**
 * trade_status → AttemptStatus. SUCCESS is paid (bank_trade_no, amount, paid_time all read),
 * FAILED and CLOSED took no money, WAIT_PAY and anything unknown are pending.
 */
export function mapTradeStatus(fields: BankgwAnswer): AttemptStatus {
  const channel_trade_no = fields.bank_trade_no || undefined;
  const pending: AttemptStatus = channel_trade_no === undefined ? { kind: 'pending' } : { kind: 'pending', channel_trade_no };
  switch (fields.trade_status) {
    case 'SUCCESS': {
      const amount_minor = parseYuan(fields.amount);
      const paid_at = parseCompactChinaTime(fields.paid_time);
      if (channel_trade_no === undefined || amount_minor === undefined || paid_at === undefined) return pending;
      return { kind: 'succeeded', channel_trade_no, amount_minor, paid_at };
    }
    case 'FAILED':
      return { kind: 'failed', code: fields.fail_code || 'BANK_FAILED', message: `bankgw: payment failed ${clip(fields.error_message ?? '')}`.trim() };
    case 'CLOSED':
      return { kind: 'closed' };
    default:
      return pending;
  }
}

export function fromQueryAnswer(answer: BankgwAnswer): AttemptStatus {
  if (answer.result_code !== 'SUCCESS') {
    if (answer.error_code === 'ORDER_NOT_EXIST') return { kind: 'not_found' };
    throw answerError('query', answer);
  }
  return mapTradeStatus(answer);
}

/** close answer → outcome; `query` when the bank says the order is no longer open. */
export function fromCloseAnswer(answer: BankgwAnswer): { kind: 'closed' } | { kind: 'already_paid' } | 'query' {
  if (answer.result_code === 'SUCCESS') return { kind: 'closed' };
  if (answer.error_code === 'ORDER_PAID') return { kind: 'already_paid' };
  if (answer.error_code === 'ORDER_CLOSED') return { kind: 'closed' };
  if (answer.error_code === 'ORDER_STATUS_ERROR') return 'query';
  throw answerError('close', answer);
}

export function toRefundFields(request: RefundRequest, merchant_no: string): Record<string, string> {
  if (!order_no_pattern.test(request.refund_id)) throw refusedLocally('refund_id must be 6 to 32 letters or digits to be a refund_no');
  if (request.amount_minor <= 0n) throw refusedLocally('refund amount_minor must be positive');
  const fields: Record<string, string> = {
    version: VERSION, merchant_no, order_no: request.attempt.attempt_id, refund_no: request.refund_id, refund_amount: formatYuan(request.amount_minor),
  };
  if (request.channel_trade_no) fields.bank_trade_no = request.channel_trade_no;
  if (request.reason !== '') fields.reason = Array.from(request.reason).slice(0, subject_chars_max).join('');
  return fields;
}

/** Refund refusals that may pass when the same refund_no is tried again later. */
const retryable_refund_codes = new Set(['BALANCE_NOT_ENOUGH', 'FREQUENCY_LIMITED']);
/** Refund refusals that will not pass. */
const final_refund_codes = new Set(['REFUND_AMOUNT_EXCEEDED', 'ORDER_NOT_PAID', 'ORDER_NOT_EXIST', 'REFUND_NO_CONFLICT', 'REFUND_WINDOW_PASSED']);

function mapRefund(answer: BankgwAnswer): RefundStatus {
  const channel_refund_no = answer.bank_refund_no || undefined;
  switch (answer.refund_status) {
    case 'SUCCESS': {
      const amount_minor = parseYuan(answer.refund_amount);
      const refunded_at = parseCompactChinaTime(answer.refund_time);
      if (channel_refund_no === undefined || amount_minor === undefined || refunded_at === undefined) return { kind: 'pending' };
      return { kind: 'succeeded', channel_refund_no, amount_minor, refunded_at };
    }
    case 'FAILED':
      return { kind: 'failed', code: answer.fail_code || 'BANK_REFUND_FAILED', message: 'bankgw refund: the bank refused the refund', retryable: false };
    default:
      return channel_refund_no === undefined ? { kind: 'pending' } : { kind: 'pending', channel_refund_no };
  }
}

export function fromRefundAnswer(answer: BankgwAnswer): RefundStatus {
  if (answer.result_code === 'SUCCESS') return mapRefund(answer);
  const code = answer.error_code ?? 'UNKNOWN';
  const message = `bankgw refund: ${code} ${clip(answer.error_message ?? '')}`.trim();
  if (retryable_refund_codes.has(code)) return { kind: 'failed', code, message, retryable: true };
  if (final_refund_codes.has(code)) return { kind: 'failed', code, message, retryable: false };
  throw answerError('refund', answer);
}

export function fromRefundQueryAnswer(answer: BankgwAnswer): RefundStatus {
  if (answer.result_code !== 'SUCCESS') {
    if (answer.error_code === 'REFUND_NOT_EXIST' || answer.error_code === 'ORDER_NOT_EXIST') return { kind: 'not_found' };
    throw answerError('refund query', answer);
  }
  return mapRefund(answer);
}

/** A JSON answer → string fields; anything not an object of strings is malformed. */
export function parseAnswer(text: string): BankgwAnswer | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  for (const value of Object.values(parsed)) if (typeof value !== 'string') return undefined;
  return parsed as BankgwAnswer;
}

// ---------------------------------------------------------------------------------------------
// Notification

export function readNotification(fields: BankgwAnswer): { attempt_id: string; status: AttemptStatus } {
  const attempt_id = fields.order_no;
  if (attempt_id === undefined || attempt_id === '') throw new ChannelError('bad_signature', 'MALFORMED', 'bankgw notification has no order_no');
  return { attempt_id, status: mapTradeStatus(fields) };
}

/** The gateway stops re-sending when the body is exactly `SUCCESS`. */
export function notificationAnswer(accepted: boolean): HttpAnswer {
  return { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: accepted ? 'SUCCESS' : 'FAIL' };
}

// ---------------------------------------------------------------------------------------------
// Statement CSV

export const STATEMENT_COLUMNS = [
  'trade_time', 'type', 'order_no', 'bank_trade_no', 'refund_no', 'bank_refund_no', 'amount', 'fee', 'currency', 'bank_code', 'product',
] as const;

const statement_column = (name: (typeof STATEMENT_COLUMNS)[number]): number => STATEMENT_COLUMNS.indexOf(name);

/**
 * The statement CSV → rows. `#` lines are comments (the trailer `#total,…`); the first other
 * line is the header, which must name STATEMENT_COLUMNS in order. amount is positive for both
 * kinds; fee is what the bank keeps: positive on payments, negative (returned) on refunds.
 */
export function parseStatement(text: string, channel_id: string): StatementRow[] {
  const rows: StatementRow[] = [];
  let header = false;
  for (const [index, line] of text.replace(/^\uFEFF/, '').split(/\r?\n/).entries()) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const fields = splitCsvLine(line).map((field) => field.trim());
    if (!header) {
      if (fields.join(',') !== STATEMENT_COLUMNS.join(',')) throw badStatement(`header is not ${STATEMENT_COLUMNS.join(',')}`);
      header = true;
      continue;
    }
    if (fields.length !== STATEMENT_COLUMNS.length) throw badStatement(`line ${index + 1} has ${fields.length} columns`);
    rows.push(statementRow(fields, channel_id, index + 1));
  }
  if (!header) throw badStatement('no header row');
  return rows;
}

function statementRow(fields: string[], channel_id: string, line_no: number): StatementRow {
  const type = fields[statement_column('type')];
  const kind = type === 'PAY' ? 'payment' : type === 'REFUND' ? 'refund' : undefined;
  if (kind === undefined) throw badStatement(`line ${line_no}: unknown type ${type}`);
  const amount = parseYuan(fields[statement_column('amount')]);
  const fee = parseYuan(fields[statement_column('fee')] || '0');
  const occurred_at = parseCompactChinaTime(fields[statement_column('trade_time')]);
  if (amount === undefined || amount < 0n || fee === undefined || occurred_at === undefined) throw badStatement(`line ${line_no}: unreadable amount, fee or time`);
  const magnitude = (value: bigint) => (value < 0n ? -value : value);
  const row: StatementRow = {
    channel_id,
    attempt_id: fields[statement_column('order_no')]!,
    channel_trade_no: fields[statement_column('bank_trade_no')]!,
    kind,
    amount_minor: amount,
    fee_minor: kind === 'payment' ? magnitude(fee) : -magnitude(fee),
    currency: fields[statement_column('currency')] || 'CNY',
    occurred_at,
  };
  if (kind === 'refund' && fields[statement_column('refund_no')]) row.refund_id = fields[statement_column('refund_no')]!;
  return row;
}

function badStatement(message: string): ChannelError {
  return new ChannelError('ambiguous', 'BAD_STATEMENT', `bankgw statement: ${message}`);
}

function clip(text: string): string {
  return text.length <= provider_message_chars_max ? text : `${text.slice(0, provider_message_chars_max)}…`;
}

// ---------------------------------------------------------------------------------------------
// Payouts (README.md, "Payouts")

const payout_no_pattern = /^[0-9A-Za-z]{6,32}$/;

export function toPayoutFields(request: PayoutRequest): Record<string, string> {
  if (!payout_no_pattern.test(request.payout_no)) throw refusedLocally('payout_no must be 6-32 letters or digits');
  if (request.currency !== 'CNY') throw refusedLocally('bankgw pays out CNY only');
  if (!bank_code_pattern.test(request.bank_code)) throw refusedLocally('bank_code');
  return {
    payout_no: request.payout_no, amount: formatYuan(request.amount_minor), currency: request.currency, bank_code: request.bank_code,
    account_no: request.account_no, account_name: request.account_name, purpose: request.purpose,
  };
}

/** A payout answer (submit or query) → PayoutOutcome; PAYOUT_NOT_EXIST → not_found; other
 * FAIL answers throw (refused, or outcome unknown). */
export function fromPayoutAnswer(operation: string, payout_no: string, answer: BankgwAnswer): PayoutOutcome {
  if (answer.result_code !== 'SUCCESS') {
    if (answer.error_code === 'PAYOUT_NOT_EXIST') return { kind: 'not_found' };
    throw answerError(operation, answer);
  }
  if (answer.payout_no !== payout_no) throw new ChannelError('ambiguous', 'BAD_RESPONSE', `bankgw ${operation}: answer is for another payout`);
  const channel_payout_no = answer.bank_payout_no ?? '';
  switch (answer.payout_status) {
    case 'SUCCESS': {
      const paid_at = parseCompactChinaTime(answer.paid_time);
      if (channel_payout_no === '' || paid_at === undefined) throw new ChannelError('ambiguous', 'BAD_RESPONSE', `bankgw ${operation}: SUCCESS without bank_payout_no or paid_time`);
      return { kind: 'succeeded', channel_payout_no, paid_at };
    }
    case 'FAILED':
      return { kind: 'failed', code: answer.fail_code || 'PAYOUT_FAILED', message: clip(answer.fail_message ?? '') };
    case 'RETURNED':
      return { kind: 'returned', code: answer.fail_code || 'RETURNED', channel_payout_no };
    default:
      return { kind: 'processing' };
  }
}
