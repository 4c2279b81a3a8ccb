// China UnionPay 全渠道 无跳转 token payment (ACP 5.1.0, bizType 000902) wire types and the
// pure functions between them and paycore's channel types: the 消费短信 (txnType 77 / 02),
// 消费 (01 / 01, with the SMS code), 交易状态查询 (00 / 00) and 退货 (04 / 00) messages, the
// brace-aware `k=v&…` answer format, respCode / origRespCode mapping and the backUrl
// notification. No I/O here; each function is unit-tested against the documented shapes.

import {
  ChannelError, type AttemptStatus, type CardElements, type ConfirmRequest, type HttpAnswer, type PayRequest, type ProductName,
  type RefundRequest, type RefundStatus, type StatementRow,
} from '../channel';
import { compactChinaTime, parseCompactChinaTime } from '../shared/china-time';
import { canonicalString } from '../shared/form';

export const UNIONPAY_PRODUCTS: readonly ProductName[] = ['UNIONPAY_QUICK'];

export const ENDPOINTS = {
  /** 后台交易: 消费短信, 消费, 退货. */
  back_trans: '/gateway/api/backTransReq.do',
  /** 单笔查询. */
  query: '/gateway/api/queryTrans.do',
} as const;

const VERSION = '5.1.0';
const ENCODING = 'UTF-8';
const CURRENCY_CNY = '156';
/** 无跳转 token payment. */
const BIZ_TYPE_TOKEN = '000902';
/** Queries carry the generic bizType. */
const BIZ_TYPE_QUERY = '000000';

const TXN = {
  sms: { txnType: '77', txnSubType: '02' },
  consume: { txnType: '01', txnSubType: '01' },
  query: { txnType: '00', txnSubType: '00' },
  refund: { txnType: '04', txnSubType: '00' },
  /** 开通短信: the code that opens a card for token payment. */
  open_sms: { txnType: '77', txnSubType: '00' },
  /** 开通 (backend, with the SMS code): issues the card's token. */
  open: { txnType: '79', txnSubType: '00' },
  /** 删除标记: the token can pay no more. */
  delete_token: { txnType: '74', txnSubType: '01' },
  /** 文件传输: 对账文件下载 (bizType 000000). */
  file_transfer: { txnType: '76', txnSubType: '01' },
} as const;

/** UnionPay's rule for orderId: 8 to 32 letters or digits (no '-' or '_'). */
const order_id_pattern = /^[0-9A-Za-z]{8,32}$/;
/** A card token as issued by 开通 (opaque, at most 64 characters here). */
export const card_token_pattern = /^[0-9A-Za-z]{1,64}$/;
/** SMS codes UnionPay sends are 6 digits. */
const sms_code_pattern = /^\d{6}$/;
/** txnAmt is at most 12 digits of fen. */
const txn_amt_fen_max = 999_999_999_999n;
const provider_message_chars_max = 256;

// ---------------------------------------------------------------------------------------------
// Time and money

/** txnTime, payTimeout: YYYYMMDDhhmmss in China time. */
export const txnTimeOf = compactChinaTime;
export const parseTxnTime = parseCompactChinaTime;

/**
 * traceTime (MMDDhhmmss, China time) of a transaction whose txnTime is known: the year is the
 * txnTime's, or the next one when the trace is in January of a December order.
 */
export function parseTraceTime(trace_time: string | undefined, txn_time: string | undefined): Date | undefined {
  if (trace_time === undefined || !/^\d{10}$/.test(trace_time) || txn_time === undefined || !/^\d{14}$/.test(txn_time)) return undefined;
  const year = Number(txn_time.slice(0, 4)) + (trace_time.slice(0, 2) < txn_time.slice(4, 6) ? 1 : 0);
  return parseTxnTime(`${year}${trace_time}`);
}

/** 8888n → "8888" (txnAmt is integer fen). */
export function formatFen(fen: bigint): string {
  if (fen <= 0n || fen > txn_amt_fen_max) throw refusedLocally(`txnAmt must be 1 to ${txn_amt_fen_max} fen`);
  return fen.toString();
}

export function parseFen(text: string | undefined): bigint | undefined {
  if (text === undefined || !/^\d{1,12}$/.test(text)) return undefined;
  return BigInt(text);
}

// ---------------------------------------------------------------------------------------------
// Requests

export interface UnionpayMerchant {
  mer_id: string;
  /** Token requester id (trId) the card tokens were issued to. */
  tr_id: string;
  access_type: string;
  channel_type: string;
}

/** Fields every message carries, before certId / signMethod / signature (crypto.signParams). */
function common(merchant: UnionpayMerchant, txn: { txnType: string; txnSubType: string }, biz_type: string): Record<string, string> {
  return {
    version: VERSION, encoding: ENCODING, txnType: txn.txnType, txnSubType: txn.txnSubType, bizType: biz_type,
    accessType: merchant.access_type, channelType: merchant.channel_type, merId: merchant.mer_id,
  };
}

/** `{trId=…&token=…}`: which bound card pays. */
function tokenPayData(tr_id: string, token: string): string {
  return `{trId=${tr_id}&token=${token}}`;
}

/** customerInfo: base64 of `{name=value&…}` (here only the SMS code, which is not encrypted). */
export function customerInfo(fields: Record<string, string>): string {
  return Buffer.from(`{${Object.entries(fields).map(([name, value]) => `${name}=${value}`).join('&')}}`, 'utf8').toString('base64');
}

export function parseCustomerInfo(encoded: string | undefined): Record<string, string> | undefined {
  if (encoded === undefined || encoded === '') return undefined;
  const text = Buffer.from(encoded, 'base64').toString('utf8');
  if (!text.startsWith('{') || !text.endsWith('}')) return undefined;
  return parseResponse(text.slice(1, -1));
}

function checkOrder(attempt_id: string, amount_minor: bigint, currency: string): void {
  if (!order_id_pattern.test(attempt_id)) throw refusedLocally('attempt_id must be 8 to 32 letters or digits to be a UnionPay orderId');
  if (currency !== 'CNY') throw refusedLocally('UnionPay quick pay charges CNY only');
  if (amount_minor <= 0n) throw refusedLocally('amount_minor must be positive');
}

function cardToken(payer: { card_token?: string }): string {
  const token = payer.card_token;
  if (token === undefined || !card_token_pattern.test(token)) throw refusedLocally('payer.card_token must be a bound card token');
  return token;
}

/** 消费短信: UnionPay texts the cardholder a code for this order and amount. */
export function toSmsParams(request: PayRequest, merchant: UnionpayMerchant, txn_time: string): Record<string, string> {
  checkOrder(request.attempt_id, request.amount_minor, request.currency);
  return {
    ...common(merchant, TXN.sms, BIZ_TYPE_TOKEN),
    orderId: request.attempt_id, txnTime: txn_time, txnAmt: formatFen(request.amount_minor), currencyCode: CURRENCY_CNY,
    tokenPayData: tokenPayData(merchant.tr_id, cardToken(request.payer)),
  };
}

/** 消费: the same orderId, txnTime and txnAmt as the SMS request, plus the code. */
export function toConsumeParams(request: ConfirmRequest, merchant: UnionpayMerchant, txn_time: string): Record<string, string> {
  checkOrder(request.attempt.attempt_id, request.amount_minor, request.attempt.currency);
  if (!sms_code_pattern.test(request.verification_code)) throw refusedLocally('verification_code must be the 6-digit SMS code');
  return {
    ...common(merchant, TXN.consume, BIZ_TYPE_TOKEN),
    orderId: request.attempt.attempt_id, txnTime: txn_time, txnAmt: formatFen(request.amount_minor), currencyCode: CURRENCY_CNY,
    tokenPayData: tokenPayData(merchant.tr_id, cardToken(request.payer)),
    customerInfo: customerInfo({ smsCode: request.verification_code }),
    backUrl: request.notify_url,
    payTimeout: txnTimeOf(request.expires_at),
    // Echoed in the notification and the query: which attempt a message is about.
    reqReserved: request.attempt.attempt_id,
  };
}

/** 交易状态查询 of a consume or refund by its own orderId and txnTime. */
export function toQueryParams(order_id: string, txn_time: string, merchant: UnionpayMerchant): Record<string, string> {
  return { ...common(merchant, TXN.query, BIZ_TYPE_QUERY), orderId: order_id, txnTime: txn_time };
}

/** 退货: a new order (orderId = refund_id) pointing at the consume's queryId. */
export function toRefundParams(request: RefundRequest, orig_qry_id: string, merchant: UnionpayMerchant, txn_time: string): Record<string, string> {
  if (!order_id_pattern.test(request.refund_id)) throw refusedLocally('refund_id must be 8 to 32 letters or digits to be a UnionPay orderId');
  return {
    ...common(merchant, TXN.refund, BIZ_TYPE_TOKEN),
    orderId: request.refund_id, txnTime: txn_time, txnAmt: formatFen(request.amount_minor), currencyCode: CURRENCY_CNY,
    origQryId: orig_qry_id, backUrl: request.notify_url, reqReserved: request.attempt.attempt_id,
  };
}

function refusedLocally(message: string): ChannelError {
  return new ChannelError('rejected', 'INVALID_PARAMETER', message);
}

// ---------------------------------------------------------------------------------------------
// Answers

/**
 * `k=v&k=v` → fields. Values are not URL-encoded and may hold `&` / `=` inside `{…}` (or
 * `[…]`), so the split only happens outside brackets; the first `=` ends a name. A repeated
 * name or an unbalanced bracket is malformed (undefined).
 */
export function parseResponse(text: string): Record<string, string> | undefined {
  const fields: Record<string, string> = {};
  let depth = 0;
  let start = 0;
  const take = (part: string): boolean => {
    if (part === '') return true;
    const equals = part.indexOf('=');
    if (equals <= 0) return false;
    const name = part.slice(0, equals);
    if (Object.hasOwn(fields, name)) return false;
    fields[name] = part.slice(equals + 1);
    return true;
  };
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === '{' || char === '[') depth++;
    else if (char === '}' || char === ']') {
      depth--;
      if (depth < 0) return undefined;
    } else if (char === '&' && depth === 0) {
      if (!take(text.slice(start, i))) return undefined;
      start = i + 1;
    }
  }
  if (depth !== 0 || !take(text.slice(start))) return undefined;
  return fields;
}

/** The provider's side: fields → `k=v&…` (sorted, raw values). */
export function formatResponse(fields: Record<string, string>): string {
  return canonicalString(fields, { exclude: [], drop_empty: false });
}

export interface UnionpayAnswer {
  respCode?: string;
  respMsg?: string;
  orderId?: string;
  txnTime?: string;
  txnAmt?: string;
  queryId?: string;
  traceTime?: string;
  origRespCode?: string;
  origRespMsg?: string;
  txnType?: string;
  customerInfo?: string;
  reqReserved?: string;
  [field: string]: string | undefined;
}

const processing_codes = new Set(['03', '04', '05']);
/** Our request was refused before UnionPay acted on it (format, signature, fields, merchant rights).
 * None is the payer's (ChannelError.payer_decline stays false): the cardholder's and the card's
 * failures are consume_failure_codes, answered as a failed attempt rather than thrown. */
const refusal_codes = new Set(['10', '11', '13', '14', '31', '32', '43']);
/**
 * Explicit failures of a consume: the cardholder, the card or the SMS code. No money moved.
 * (42, 74 and 75 say money moved but something else failed: not here, they stay pending.)
 */
const consume_failure_codes = new Set([
  '01', '30', '33', '38', '39', '40', '44', '60', '61', '62', '63', '64', '65', '66', '67', '68', '69', '71', '73', '76', '77',
  '78', '79', '80', '81', '84', '86',
]);

function describe(operation: string, code: string | undefined, message: string | undefined): string {
  return `unionpay ${operation}: ${code ?? '?'} ${clip(message ?? '')}`.trim();
}

/**
 * 消费短信 answer → the SMS_CODE action. 00: texted. Refusals are ours to fix; card errors
 * (token expired, card state) fail the attempt; anything else leaves it unknown.
 */
export function fromSmsResponse(answer: UnionpayAnswer): AttemptStatus {
  const code = answer.respCode;
  const message = describe('sms', code, answer.respMsg);
  if (code === '00') return { kind: 'action_required', next_action: { type: 'SMS_CODE', value: phoneHint(answer.customerInfo) } };
  if (code !== undefined && refusal_codes.has(code)) throw new ChannelError('rejected', code, message);
  if (code !== undefined && consume_failure_codes.has(code)) return { kind: 'failed', code, message };
  throw new ChannelError('ambiguous', code ?? 'BAD_RESPONSE', message);
}

/** A masked phone number from the answer's customerInfo (`138****8000`), or '' when none. */
export function phoneHint(encoded: string | undefined): string {
  const phone = parseCustomerInfo(encoded)?.phoneNo;
  if (phone === undefined || !/^[\d*]{7,15}$/.test(phone)) return '';
  return phone.includes('*') ? phone : `${phone.slice(0, 3)}****${phone.slice(-4)}`;
}

/**
 * 消费 answer → status, or `query`: a backTrans 00 means accepted ("受理成功"), the result is
 * in the notification or the query. 03/04/05 pending; 12 (duplicate) query; explicit card /
 * code failures failed with the code; anything else pending.
 */
export function fromConsumeResponse(answer: UnionpayAnswer): AttemptStatus | 'query' {
  const code = answer.respCode;
  const message = describe('consume', code, answer.respMsg);
  const pending: AttemptStatus = answer.queryId ? { kind: 'pending', channel_trade_no: answer.queryId } : { kind: 'pending' };
  if (code === '00' || code === '12') return 'query';
  // A wrong SMS code: the order still waits for the right one (UnionPay counts tries too).
  if (code !== undefined && wrong_code_codes.has(code)) throw new ChannelError('rejected', 'WRONG_CODE', message);
  if (code !== undefined && processing_codes.has(code)) return pending;
  if (code !== undefined && refusal_codes.has(code)) throw new ChannelError('rejected', code, message);
  if (code !== undefined && consume_failure_codes.has(code)) return { kind: 'failed', code, message };
  return pending;
}

/**
 * A transaction's own result (origRespCode of a query, respCode of a notification) → status.
 * 00 is paid, with queryId, txnAmt and a time; 03/04/05 and unknown codes pending.
 */
function mapResult(code: string | undefined, answer: UnionpayAnswer, message: string): AttemptStatus {
  const channel_trade_no = answer.queryId || undefined;
  const pending: AttemptStatus = channel_trade_no === undefined ? { kind: 'pending' } : { kind: 'pending', channel_trade_no };
  if (code === '00' || code === 'A6') {
    const amount_minor = parseFen(answer.txnAmt);
    const paid_at = parseTraceTime(answer.traceTime, answer.txnTime) ?? parseTxnTime(answer.txnTime);
    // A success we cannot read completely is not trusted as final: query settles it.
    if (channel_trade_no === undefined || amount_minor === undefined || paid_at === undefined) return pending;
    return { kind: 'succeeded', channel_trade_no, amount_minor, paid_at };
  }
  if (code !== undefined && consume_failure_codes.has(code)) return { kind: 'failed', code, message };
  return pending;
}

/** 交易状态查询 of a consume → status. respCode 34: no such transaction (an SMS-only order). */
export function fromQueryResponse(answer: UnionpayAnswer): AttemptStatus {
  const code = answer.respCode;
  if (code === '34') return { kind: 'not_found' };
  if (code !== undefined && processing_codes.has(code)) return { kind: 'pending' };
  if (code !== '00') throw new ChannelError(refusal_codes.has(code ?? '') ? 'rejected' : 'ambiguous', code ?? 'BAD_RESPONSE', describe('query', code, answer.respMsg));
  return mapResult(answer.origRespCode, answer, describe('consume', answer.origRespCode, answer.origRespMsg));
}

/** Refund refusals that may pass when the same refund is tried again later. */
const retryable_refund_codes = new Set(['02', '06', '37', '39']);
/** Refund refusals that will not pass: original missing or refunded, amount over, info mismatch. */
const final_refund_codes = new Set(['01', '30', '33', '35', '36', '45', '46', '61', '63']);

/** 退货 answer → status, or `query` (00 = accepted; the refund query says when it is done). */
export function fromRefundResponse(answer: UnionpayAnswer): RefundStatus | 'query' {
  const code = answer.respCode;
  const message = describe('refund', code, answer.respMsg);
  // 12: this orderId + txnTime was already sent (a retry): the refund query says how it went.
  if (code === '00' || code === '12') return 'query';
  if (code !== undefined && processing_codes.has(code)) return answer.queryId ? { kind: 'pending', channel_refund_no: answer.queryId } : { kind: 'pending' };
  if (code !== undefined && retryable_refund_codes.has(code)) return { kind: 'failed', code, message, retryable: true };
  if (code !== undefined && (final_refund_codes.has(code) || refusal_codes.has(code))) return { kind: 'failed', code, message, retryable: false };
  return { kind: 'pending' };
}

/** A refund's result code (query origRespCode or notification respCode) → status. */
function mapRefundResult(code: string | undefined, answer: UnionpayAnswer, message: string): RefundStatus {
  const channel_refund_no = answer.queryId || undefined;
  if (code === '00') {
    const amount_minor = parseFen(answer.txnAmt);
    const refunded_at = parseTraceTime(answer.traceTime, answer.txnTime) ?? parseTxnTime(answer.txnTime);
    if (channel_refund_no === undefined || amount_minor === undefined || refunded_at === undefined) return { kind: 'pending' };
    return { kind: 'succeeded', channel_refund_no, amount_minor, refunded_at };
  }
  if (code !== undefined && (final_refund_codes.has(code) || consume_failure_codes.has(code))) return { kind: 'failed', code, message, retryable: false };
  return channel_refund_no === undefined ? { kind: 'pending' } : { kind: 'pending', channel_refund_no };
}

export function fromRefundQueryResponse(answer: UnionpayAnswer): RefundStatus {
  const code = answer.respCode;
  if (code === '34') return { kind: 'not_found' };
  if (code !== undefined && processing_codes.has(code)) return { kind: 'pending' };
  if (code !== '00') throw new ChannelError(refusal_codes.has(code ?? '') ? 'rejected' : 'ambiguous', code ?? 'BAD_RESPONSE', describe('refund query', code, answer.respMsg));
  return mapRefundResult(answer.origRespCode, answer, describe('refund', answer.origRespCode, answer.origRespMsg));
}

// ---------------------------------------------------------------------------------------------
// backUrl notification

export type UnionpayNotificationMeaning =
  | { type: 'payment'; attempt_id: string; status: AttemptStatus }
  | { type: 'refund'; attempt_id: string; refund_id: string; status: RefundStatus };

/** Verified notification fields → what they say. Pure: verification happens before. */
export function readNotification(fields: UnionpayAnswer): UnionpayNotificationMeaning {
  const order_id = fields.orderId;
  if (order_id === undefined || order_id === '') throw new ChannelError('bad_signature', 'MALFORMED', 'unionpay notification has no orderId');
  const message = describe(fields.txnType === TXN.refund.txnType ? 'refund' : 'consume', fields.respCode, fields.respMsg);
  if (fields.txnType === TXN.refund.txnType) {
    const attempt_id = fields.reqReserved;
    if (attempt_id === undefined || attempt_id === '') throw new ChannelError('bad_signature', 'MALFORMED', 'unionpay refund notification has no reqReserved');
    return { type: 'refund', attempt_id, refund_id: order_id, status: mapRefundResult(fields.respCode, fields, message) };
  }
  if (fields.txnType !== TXN.consume.txnType) throw new ChannelError('bad_signature', 'MALFORMED', `unionpay notification of txnType ${fields.txnType ?? '?'}`);
  return { type: 'payment', attempt_id: order_id, status: mapResult(fields.respCode, fields, message) };
}

/** UnionPay stops re-sending once the backUrl answers HTTP 200. */
export function notificationAnswer(accepted: boolean): HttpAnswer {
  return accepted
    ? { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'ok' }
    : { status: 400, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'fail' };
}

function clip(text: string): string {
  return text.length <= provider_message_chars_max ? text : `${text.slice(0, provider_message_chars_max)}…`;
}

// ---- 开通 (card binding) -------------------------------------------------------------------

/** The card's verification elements as UnionPay's customerInfo names them (certifTp 01: a
 * resident identity card). Production sends these encrypted under UnionPay's encryption
 * certificate (encryptCertId); the sandbox reads them in clear. */
function cardInfo(card: CardElements, more: Record<string, string> = {}): string {
  return customerInfo({ certifTp: '01', certifId: card.id_number, customerNm: card.holder_name, phoneNo: card.phone, ...more });
}

function checkBinding(binding_id: string, card: CardElements): void {
  if (!order_id_pattern.test(binding_id)) throw refusedLocally('binding_id must be 8 to 32 letters or digits to be a UnionPay orderId');
  if (!/^\d{12,19}$/.test(card.card_no)) throw refusedLocally('card_no must be 12 to 19 digits');
}

/** 开通短信 (77/00). */
export function toOpenSmsParams(binding_id: string, card: CardElements, merchant: UnionpayMerchant, txn_time: string): Record<string, string> {
  checkBinding(binding_id, card);
  return {
    ...common(merchant, TXN.open_sms, BIZ_TYPE_TOKEN), orderId: binding_id, txnTime: txn_time, accNo: card.card_no, customerInfo: cardInfo(card),
    tokenPayData: `{trId=${merchant.tr_id}&tokenType=01}`,
  };
}

/** 开通 (79/00): the same order with the cardholder's code. */
export function toOpenParams(binding_id: string, card: CardElements, sms_code: string, merchant: UnionpayMerchant, txn_time: string): Record<string, string> {
  checkBinding(binding_id, card);
  if (!sms_code_pattern.test(sms_code)) throw refusedLocally('verification_code must be the 6-digit SMS code');
  return {
    ...common(merchant, TXN.open, BIZ_TYPE_TOKEN),
    orderId: binding_id,
    txnTime: txn_time,
    accNo: card.card_no,
    customerInfo: cardInfo(card, { smsCode: sms_code }),
    tokenPayData: `{trId=${merchant.tr_id}&tokenType=01}`,
  };
}

/** 删除标记 (74/01). */
export function toDeleteTokenParams(order_id: string, token: string, merchant: UnionpayMerchant, txn_time: string): Record<string, string> {
  return { ...common(merchant, TXN.delete_token, BIZ_TYPE_TOKEN), orderId: order_id, txnTime: txn_time, tokenPayData: tokenPayData(merchant.tr_id, token) };
}

/** Codes a binding answers with when the cardholder's code was wrong: the binding stays open. */
const wrong_code_codes: ReadonlySet<string> = new Set(['71']);

/** An answer to 开通短信, 开通 or 删除标记: 00 goes on; a wrong code is WRONG_CODE; every other
 * answer refuses the binding (the card, its elements or our request). */
export function bindingAnswer(operation: string, answer: UnionpayAnswer): UnionpayAnswer {
  const code = answer.respCode;
  if (code === '00') return answer;
  const message = describe(operation, code, answer.respMsg);
  if (code !== undefined && wrong_code_codes.has(code)) throw new ChannelError('rejected', 'WRONG_CODE', message);
  if (code !== undefined && (refusal_codes.has(code) || consume_failure_codes.has(code) || code === '12' || code === '34')) throw new ChannelError('rejected', code, message);
  throw new ChannelError('ambiguous', code ?? 'BAD_RESPONSE', message);
}

/** The token of a 开通 answer (tokenPayData `{token=…&trId=…&…}`). */
export function tokenOfOpenAnswer(answer: UnionpayAnswer): string {
  const text = answer.tokenPayData ?? '';
  const fields = text.startsWith('{') && text.endsWith('}') ? parseResponse(text.slice(1, -1)) : undefined;
  const token = fields?.token;
  if (token === undefined || !card_token_pattern.test(token)) throw new ChannelError('ambiguous', 'BAD_RESPONSE', 'unionpay open: the answer carries no token');
  return token;
}

// ---------------------------------------------------------------------------------------------
// 对账文件 (file transfer, bizType 000000, fileType 00): the answer's fileContent is the day's
// archive, deflated and Base64-encoded; the archive's ZM file (INN<yyMMdd>88ZM_<merId>) lists
// the day's transactions one per line, fixed-width fields separated by one space.

/** 文件传输 of the 对账文件 of a clearing date (YYYY-MM-DD; the request names it MMDD). */
export function toFileTransferParams(date: string, merchant: UnionpayMerchant, txn_time: string): Record<string, string> {
  const { channelType: _channel, ...base } = common(merchant, TXN.file_transfer, BIZ_TYPE_QUERY);
  return { ...base, txnTime: txn_time, fileType: '00', settleDate: `${date.slice(5, 7)}${date.slice(8, 10)}` };
}

/** The ZM file's leading fields and their widths (the rest of a line is not read). */
const ZM_FIELDS = [
  ['交易代码', 3], ['代理机构标识码', 11], ['发送机构标识码', 11], ['系统跟踪号', 6], ['交易传输时间', 10], ['帐号', 19], ['交易金额', 12],
  ['商户类别', 4], ['终端类型', 2], ['查询流水号', 21], ['支付方式（旧）', 2], ['商户订单号', 32], ['支付卡类型', 2], ['原始交易的系统跟踪号', 6],
  ['原始交易日期时间', 10], ['商户手续费', 13], ['结算金额', 13], ['支付方式', 4], ['集团商户代码', 15], ['交易类型', 2], ['交易子类', 2],
  ['业务类型', 6], ['帐号类型', 2], ['账单类型', 4], ['账单号码', 32], ['交互方式', 1], ['原交易查询流水号', 21], ['商户代码', 15], ['分账入账方式', 1],
] as const;
type ZmField = (typeof ZM_FIELDS)[number][0];
const zm_offsets = new Map<ZmField, { start: number; width: number }>();
let zm_line_min = 0;
for (const [name, width] of ZM_FIELDS) {
  zm_offsets.set(name, { start: zm_line_min, width });
  zm_line_min += width + 1;
}
zm_line_min -= 1;

/** 交易代码 of the transactions a 无跳转 merchant's file lists: 消费 and 退货. */
const ZM_PAYMENT = 'S22';
const ZM_REFUND = 'S30';

/** The ZM file of a 对账文件 archive: INN<yyMMdd>88ZM_<merId>. Returns its clearing date. */
export function zmEntryDate(name: string): string | undefined {
  const match = /^INN(\d{2})(\d{2})(\d{2})\d{2}ZM_[0-9A-Za-z]{15}$/.exec(name);
  return match === null ? undefined : `20${match[1]}-${match[2]}-${match[3]}`;
}

function zmField(line: string, name: ZmField): string {
  const at = zm_offsets.get(name)!;
  return line.slice(at.start, at.start + at.width).trim();
}

/** A ZM file → rows. amount_minor positive for both kinds; fee_minor what UnionPay keeps
 * (商户手续费 'D' debited: positive; 'C' credited back on a refund: negative). A refund names its
 * payment by the original queryId only: its attempt_id is the payment's orderId when the same
 * file lists that payment, else '' (reconciliation finds the attempt by the queryId, its
 * channel_trade_no). */
export function parseZmFile(text: string, clearing_date: string, channel_id: string): StatementRow[] {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== '');
  const order_of_query = new Map<string, string>();
  for (const line of lines) if (zmField(line, '交易代码') === ZM_PAYMENT) order_of_query.set(zmField(line, '查询流水号'), zmField(line, '商户订单号'));
  return lines.map((line, index) => {
    const bad = (what: string) => new ChannelError('ambiguous', 'BAD_STATEMENT', `unionpay 对账文件 line ${index + 1}: ${what}`);
    if (line.length < zm_line_min) throw bad(`${line.length} characters, a ZM record has at least ${zm_line_min}`);
    const code = zmField(line, '交易代码');
    if (code !== ZM_PAYMENT && code !== ZM_REFUND) throw bad(`交易代码 ${code} is not 消费 (${ZM_PAYMENT}) or 退货 (${ZM_REFUND})`);
    const amount = /^\d{12}$/.test(zmField(line, '交易金额')) ? BigInt(zmField(line, '交易金额')) : undefined;
    const fee_text = zmField(line, '商户手续费');
    const fee = /^[CD]\d{12}$/.test(fee_text) ? (fee_text[0] === 'D' ? 1n : -1n) * BigInt(fee_text.slice(1)) : undefined;
    const time = zmField(line, '交易传输时间');
    const occurred_at = /^\d{10}$/.test(time) ? parseCompactChinaTime(`${clearing_date.slice(0, 4)}${time}`) : undefined;
    if (amount === undefined || fee === undefined || occurred_at === undefined) throw bad('unreadable 交易金额, 商户手续费 or 交易传输时间');
    const order_id = zmField(line, '商户订单号');
    if (code === ZM_PAYMENT) return { channel_id, attempt_id: order_id, channel_trade_no: zmField(line, '查询流水号'), kind: 'payment', amount_minor: amount, fee_minor: fee, currency: 'CNY', occurred_at };
    const original = zmField(line, '原交易查询流水号');
    return {
      channel_id, attempt_id: order_of_query.get(original) ?? '', channel_trade_no: original, kind: 'refund', amount_minor: amount, fee_minor: fee,
      currency: 'CNY', occurred_at, refund_id: order_id,
    };
  });
}
