// Alipay open platform (alipay.trade.*) wire types and the pure functions between them and
// paycore's channel types: gateway parameters for each product, the APP order string and the
// WAP / PC redirect URL, answer mapping (code / sub_code / trade_status), refunds, the
// asynchronous notification, and the 业务明细 bill. No I/O here; each function is unit-tested
// against the documented payload shapes.

import { strict as assert } from 'node:assert';
import {
  ChannelError, type AttemptStatus, type HttpAnswer, type NextAction, type PayRequest, type ProductName,
  type RefundRequest, type RefundStatus, type StatementRow,
} from '../channel';
import { chinaDateTime, parseChinaDateTime } from '../shared/china-time';
import { formatYuan, parseYuan, splitCsvLine } from '../shared/http';
import { SIGN_TYPE } from './crypto';

export const ALIPAY_PRODUCTS: readonly ProductName[] = ['ALIPAY_QR', 'ALIPAY_APP', 'ALIPAY_WAP', 'ALIPAY_PC', 'BARCODE'];

/** Alipay's rule for out_trade_no / out_request_no: up to 64 letters, digits and underscores. */
const out_trade_no_pattern = /^[0-9A-Za-z_]{1,64}$/;
/** Alipay's limit on `subject` (characters). */
const subject_chars_max = 256;
/** Alipay payment codes: 25–30 followed by 14–22 digits (16 to 24 digits in all). */
export const alipay_auth_code_pattern = /^(2[5-9]|30)\d{14,22}$/;
const provider_message_chars_max = 256;

export const METHODS = {
  precreate: 'alipay.trade.precreate',
  pay: 'alipay.trade.pay',
  app: 'alipay.trade.app.pay',
  wap: 'alipay.trade.wap.pay',
  page: 'alipay.trade.page.pay',
  query: 'alipay.trade.query',
  close: 'alipay.trade.close',
  /** Payment codes: closes an unpaid trade, refunds and closes a paid one. */
  cancel: 'alipay.trade.cancel',
  refund: 'alipay.trade.refund',
  refund_query: 'alipay.trade.fastpay.refund.query',
  bill: 'alipay.data.dataservice.bill.downloadurl.query',
} as const;

const product_methods: Partial<Record<ProductName, { method: string; product_code: string }>> = {
  ALIPAY_QR: { method: METHODS.precreate, product_code: 'FACE_TO_FACE_PAYMENT' },
  ALIPAY_APP: { method: METHODS.app, product_code: 'QUICK_MSECURITY_PAY' },
  ALIPAY_WAP: { method: METHODS.wap, product_code: 'QUICK_WAP_WAY' },
  ALIPAY_PC: { method: METHODS.page, product_code: 'FAST_INSTANT_TRADE_PAY' },
  BARCODE: { method: METHODS.pay, product_code: 'FACE_TO_FACE_PAYMENT' },
};

// ---------------------------------------------------------------------------------------------
// Wire types

/** biz_content of precreate / pay / app.pay / wap.pay / page.pay. */
export interface AlipayTradeCreateBiz {
  out_trade_no: string;
  total_amount: string;
  subject: string;
  product_code: string;
  /** yyyy-MM-dd HH:mm:ss, China time. */
  time_expire: string;
  scene?: 'bar_code';
  auth_code?: string;
  quit_url?: string;
  /** A profit-sharing channel's payment: its money frozen for royalty (royalty.ts). */
  extend_params?: { royalty_freeze: 'true' };
}

/** Common answer fields of every `*_response`. */
export interface AlipayResponseBase {
  code: string;
  msg: string;
  sub_code?: string;
  sub_msg?: string;
}

export interface AlipayTradeQueryResponse extends AlipayResponseBase {
  trade_no?: string;
  out_trade_no?: string;
  buyer_logon_id?: string;
  trade_status?: 'WAIT_BUYER_PAY' | 'TRADE_CLOSED' | 'TRADE_SUCCESS' | 'TRADE_FINISHED' | string;
  total_amount?: string;
  receipt_amount?: string;
  /** yyyy-MM-dd HH:mm:ss */
  send_pay_date?: string;
}

export interface AlipayTradePayResponse extends AlipayResponseBase {
  trade_no?: string;
  out_trade_no?: string;
  buyer_logon_id?: string;
  total_amount?: string;
  receipt_amount?: string;
  gmt_payment?: string;
}

export interface AlipayRefundResponse extends AlipayResponseBase {
  trade_no?: string;
  out_trade_no?: string;
  fund_change?: 'Y' | 'N' | string;
  /** Cumulative refunded amount of the trade. */
  refund_fee?: string;
  gmt_refund_pay?: string;
}

export interface AlipayRefundQueryResponse extends AlipayResponseBase {
  trade_no?: string;
  out_trade_no?: string;
  out_request_no?: string;
  total_amount?: string;
  refund_amount?: string;
  refund_status?: 'REFUND_SUCCESS' | string;
  gmt_refund_pay?: string;
}

export interface AlipayGatewayCommon {
  app_id: string;
  /** Millisecond-free local time of the call; fixed in tests. */
  now: Date;
}

// ---------------------------------------------------------------------------------------------
// Requests

/** Every gateway call's parameters, unsigned: the caller adds `sign` (crypto.signParams). */
export function gatewayParams(
  method: string, biz: object, common: AlipayGatewayCommon, extra: { notify_url?: string; return_url?: string } = {},
): Record<string, string> {
  const params: Record<string, string> = {
    app_id: common.app_id,
    method,
    format: 'JSON',
    charset: 'utf-8',
    sign_type: SIGN_TYPE,
    timestamp: chinaDateTime(common.now),
    version: '1.0',
    biz_content: JSON.stringify(biz),
  };
  if (extra.notify_url !== undefined) params.notify_url = extra.notify_url;
  if (extra.return_url !== undefined) params.return_url = extra.return_url;
  return params;
}

function productMethod(product: ProductName): { method: string; product_code: string } {
  const found = product_methods[product];
  if (found === undefined) throw new ChannelError('unsupported', 'UNSUPPORTED', `alipay does not support product ${product}`);
  return found;
}

/** PayRequest → the method and biz_content; caller mistakes Alipay would refuse are 'rejected' here.
 * `royalty_freeze`: the channel splits its payments at Alipay (extend_params.royalty_freeze). */
export function toPayBiz(request: PayRequest, royalty_freeze = false): { method: string; biz: AlipayTradeCreateBiz } {
  const { method, product_code } = productMethod(request.product);
  if (request.amount_minor <= 0n) throw refusedLocally('amount_minor must be positive');
  if (request.currency !== 'CNY') throw refusedLocally('alipay.trade.* charges CNY only');
  if (!out_trade_no_pattern.test(request.attempt_id)) {
    throw refusedLocally('attempt_id must be 1 to 64 letters, digits or _ to be an out_trade_no');
  }
  const biz: AlipayTradeCreateBiz = {
    out_trade_no: request.attempt_id,
    total_amount: formatYuan(request.amount_minor),
    subject: truncateSubject(request.subject),
    product_code,
    time_expire: chinaDateTime(request.expires_at),
  };
  if (request.product === 'BARCODE') {
    const auth_code = request.payer.auth_code;
    if (auth_code === undefined || !alipay_auth_code_pattern.test(auth_code)) {
      throw refusedLocally('payer.auth_code must be an Alipay payment code (16-24 digits starting 25-30)');
    }
    biz.scene = 'bar_code';
    biz.auth_code = auth_code;
  }
  if (royalty_freeze) biz.extend_params = { royalty_freeze: 'true' };
  return { method, biz };
}

function refusedLocally(message: string): ChannelError {
  return new ChannelError('rejected', 'INVALID_PARAMETER', message);
}

function truncateSubject(subject: string): string {
  const chars = Array.from(subject);
  return chars.length <= subject_chars_max ? subject : chars.slice(0, subject_chars_max).join('');
}

/**
 * Signed parameters → the URL-encoded query the APP SDK takes as its order string and the
 * WAP / PC pages take as the gateway query (GET form): sorted, each value percent-encoded.
 */
function encodeSignedParams(signed: Record<string, string>): string {
  return Object.keys(signed)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((name) => `${name}=${encodeURIComponent(signed[name]!)}`)
    .join('&');
}

/** The next action of a product that needs no server call (APP, WAP, PC). */
export function clientSideAction(product: ProductName, gateway_url: string, signed: Record<string, string>): NextAction {
  const encoded = encodeSignedParams(signed);
  if (product === 'ALIPAY_APP') return { type: 'SDK_PARAMS', value: encoded, params: { orderStr: encoded } };
  if (product === 'ALIPAY_WAP' || product === 'ALIPAY_PC') return { type: 'REDIRECT', value: `${gateway_url}?${encoded}` };
  throw new ChannelError('unsupported', 'UNSUPPORTED', `alipay product ${product} needs a server call`);
}

// ---------------------------------------------------------------------------------------------
// Answers

/** What an answer means before its method-specific fields are read. */
type Outcome =
  | { kind: 'ok' }
  /** 10003: accepted, the payer has not confirmed yet (payment codes). */
  | { kind: 'processing' }
  /** 40004: a definite business answer, described by sub_code. */
  | { kind: 'business_failure'; sub_code: string; message: string }
  | { kind: 'error'; error: ChannelError };

/** Refusals down to the payer, not the channel (balance, payment code): they say nothing about
 * the channel's health (ChannelError.payer_decline). */
const payer_decline_codes = new Set(['ACQ.BUYER_BALANCE_NOT_ENOUGH', 'ACQ.PAYMENT_AUTH_CODE_INVALID']);

/** A refusal with Alipay's code (sub_code when there is one), classified: the payer's, or ours /
 * the channel's. */
function refusal(code: string, message: string): ChannelError {
  return new ChannelError('rejected', code, message, { payer_decline: payer_decline_codes.has(code) });
}

/** Gateway codes meaning the request was refused before Alipay acted on it. */
const refused_codes = new Set(['20001', '40001', '40002', '40006']);

export function classify(operation: string, body: AlipayResponseBase): Outcome {
  const message = `alipay ${operation}: ${body.code} ${body.sub_code ?? ''} ${clip(body.sub_msg ?? body.msg ?? '')}`.replace(/\s+/g, ' ').trim();
  if (body.code === '10000') return { kind: 'ok' };
  if (body.code === '10003') return { kind: 'processing' };
  if (body.code === '40004') return { kind: 'business_failure', sub_code: body.sub_code ?? 'UNKNOWN', message };
  if (refused_codes.has(body.code)) return { kind: 'error', error: refusal(body.sub_code ?? body.code, message) };
  // 20000 (service unavailable) and anything unknown: the call may have taken effect.
  return { kind: 'error', error: new ChannelError('ambiguous', body.sub_code ?? body.code ?? 'UNKNOWN', message) };
}

/** Business failures of a create that mean our request was refused, not that the payer failed. */
const create_refusals = new Set([
  'ACQ.INVALID_PARAMETER', 'ACQ.CONTEXT_INCONSISTENT', 'ACQ.ACCESS_FORBIDDEN', 'ACQ.EXIST_FORBIDDEN_WORD',
  'ACQ.PARTNER_ERROR', 'ACQ.TOTAL_FEE_EXCEED', 'ACQ.SELLER_BEEN_BLOCKED', 'ACQ.INVALID_STORE_ID', 'ACQ.PAYMENT_REQUEST_HAS_RISK',
]);
/** Business failures meaning "unknown, ask again": the trade may exist. */
const ambiguous_sub_codes = new Set(['ACQ.SYSTEM_ERROR', 'aop.ACQ.SYSTEM_ERROR']);

/** A create or pay answer → status; `query` when Alipay says the trade already exists as paid. */
export function fromCreateResponse(product: ProductName, body: AlipayTradePayResponse & { qr_code?: string }): AttemptStatus | 'query' {
  const outcome = classify(product === 'BARCODE' ? 'pay' : 'precreate', body);
  if (outcome.kind === 'error') throw outcome.error;
  const trade_no = body.trade_no || undefined;
  if (outcome.kind === 'processing') return trade_no === undefined ? { kind: 'pending' } : { kind: 'pending', channel_trade_no: trade_no };
  if (outcome.kind === 'business_failure') {
    if (outcome.sub_code === 'ACQ.TRADE_HAS_SUCCESS') return 'query';
    // A payment code refused as inconsistent with a trade under this out_trade_no: attempt ids
    // are ours alone, so that trade is this attempt's (an earlier call whose answer was lost).
    if (product === 'BARCODE' && outcome.sub_code === 'ACQ.CONTEXT_INCONSISTENT') return 'query';
    if (outcome.sub_code === 'ACQ.TRADE_HAS_CLOSE') return { kind: 'closed' };
    if (ambiguous_sub_codes.has(outcome.sub_code)) throw new ChannelError('ambiguous', outcome.sub_code, outcome.message);
    if (product !== 'BARCODE' || create_refusals.has(outcome.sub_code)) throw refusal(outcome.sub_code, outcome.message);
    return { kind: 'failed', code: outcome.sub_code, message: outcome.message };
  }
  if (product === 'ALIPAY_QR') {
    if (typeof body.qr_code !== 'string' || body.qr_code === '') throw new ChannelError('ambiguous', 'BAD_RESPONSE', 'alipay precreate answer has no qr_code');
    return { kind: 'action_required', next_action: { type: 'QR_CODE', value: body.qr_code } };
  }
  // alipay.trade.pay 10000: paid.
  const amount_minor = parseYuan(body.total_amount);
  const paid_at = parseChinaDateTime(body.gmt_payment);
  if (trade_no === undefined || amount_minor === undefined || paid_at === undefined) {
    return trade_no === undefined ? { kind: 'pending' } : { kind: 'pending', channel_trade_no: trade_no };
  }
  return { kind: 'succeeded', channel_trade_no: trade_no, amount_minor, paid_at };
}

/**
 * alipay.trade.cancel → the close outcome: 10000 closes (action close) or refunds and closes
 * (action refund) the trade; retry_flag Y or an unknown answer means ask again (ambiguous);
 * ACQ.TRADE_NOT_EXIST: nothing to cancel.
 */
export function fromCancelResponse(body: AlipayResponseBase & { retry_flag?: string }): { kind: 'closed' } {
  const outcome = classify('cancel', body);
  if (outcome.kind === 'error') throw outcome.error;
  if (outcome.kind === 'ok' && body.retry_flag !== 'Y') return { kind: 'closed' };
  if (outcome.kind === 'business_failure' && outcome.sub_code === 'ACQ.TRADE_NOT_EXIST') return { kind: 'closed' };
  const code = outcome.kind === 'business_failure' ? outcome.sub_code : 'RETRY';
  throw new ChannelError('ambiguous', code, outcome.kind === 'business_failure' ? outcome.message : 'alipay cancel: retry_flag Y');
}

/**
 * trade_status → AttemptStatus. TRADE_SUCCESS / TRADE_FINISHED are paid, TRADE_CLOSED took no
 * money (or was refunded in full, which the caller's refund records tell apart),
 * WAIT_BUYER_PAY and anything unknown are pending.
 */
export function mapTradeStatus(fields: {
  trade_status?: string; trade_no?: string; total_amount?: string; paid_at_text?: string;
}): AttemptStatus {
  const channel_trade_no = fields.trade_no || undefined;
  const pending: AttemptStatus = channel_trade_no === undefined ? { kind: 'pending' } : { kind: 'pending', channel_trade_no };
  switch (fields.trade_status) {
    case 'TRADE_SUCCESS':
    case 'TRADE_FINISHED': {
      const amount_minor = parseYuan(fields.total_amount);
      const paid_at = parseChinaDateTime(fields.paid_at_text);
      // A success we cannot read completely is not trusted as final: query settles it.
      if (channel_trade_no === undefined || amount_minor === undefined || paid_at === undefined) return pending;
      return { kind: 'succeeded', channel_trade_no, amount_minor, paid_at };
    }
    case 'TRADE_CLOSED':
      return { kind: 'closed' };
    default:
      return pending;
  }
}

export function fromQueryResponse(body: AlipayTradeQueryResponse): AttemptStatus {
  const outcome = classify('query', body);
  if (outcome.kind === 'error') throw outcome.error;
  if (outcome.kind === 'business_failure') {
    if (outcome.sub_code === 'ACQ.TRADE_NOT_EXIST') return { kind: 'not_found' };
    throw new ChannelError('ambiguous', outcome.sub_code, outcome.message);
  }
  return mapTradeStatus({ trade_status: body.trade_status, trade_no: body.trade_no, total_amount: body.total_amount, paid_at_text: body.send_pay_date });
}

/** close answer → closed, or `query` when Alipay refuses because the trade is not open. */
export function fromCloseResponse(body: AlipayResponseBase): { kind: 'closed' } | 'query' {
  const outcome = classify('close', body);
  if (outcome.kind === 'error') throw outcome.error;
  if (outcome.kind === 'business_failure') {
    // No trade yet: a WAP / PC / APP order exists only once the payer opens it, and its signed
    // time_expire bounds when that can happen. A payment after this lands as a late success.
    if (outcome.sub_code === 'ACQ.TRADE_NOT_EXIST') return { kind: 'closed' };
    if (outcome.sub_code === 'ACQ.TRADE_STATUS_ERROR') return 'query';
    throw ambiguous_sub_codes.has(outcome.sub_code) ? new ChannelError('ambiguous', outcome.sub_code, outcome.message) : refusal(outcome.sub_code, outcome.message);
  }
  return { kind: 'closed' };
}

// ---------------------------------------------------------------------------------------------
// Refunds

/** One receiver's share the refund takes back (退分账明细). */
interface RefundRoyaltyParameter {
  royalty_type: 'transfer';
  trans_out_type: string;
  trans_out: string;
  amount: string;
  desc: string;
}

export interface AlipayRefundBiz {
  out_trade_no: string;
  trade_no?: string;
  refund_amount: string;
  refund_reason?: string;
  out_request_no: string;
  /** The receivers' shares this refund takes back (分账回退 inside the refund). */
  refund_royalty_parameters?: RefundRoyaltyParameter[];
}

/** `receiver_type`: how the channel names receivers at Alipay (royalty.ts), for the shares the
 * refund takes back (RefundRequest.share_returns), each at most the refund's amount in all. */
export function toRefundBiz(request: RefundRequest, receiver_type = 'userId'): AlipayRefundBiz {
  if (request.amount_minor <= 0n) throw refusedLocally('refund amount_minor must be positive');
  if (!out_trade_no_pattern.test(request.refund_id)) throw refusedLocally('refund_id must be 1 to 64 letters, digits or _ to be an out_request_no');
  const biz: AlipayRefundBiz = {
    out_trade_no: request.attempt.attempt_id,
    refund_amount: formatYuan(request.amount_minor),
    out_request_no: request.refund_id,
  };
  if (request.channel_trade_no) biz.trade_no = request.channel_trade_no;
  if (request.reason !== '') biz.refund_reason = Array.from(request.reason).slice(0, 256).join('');
  const returns = request.share_returns ?? [];
  if (returns.length > 0) {
    let total = 0n;
    biz.refund_royalty_parameters = returns.map((line, i) => {
      if (line.amount_minor <= 0n) throw refusedLocally(`share_returns[${i}] amount must be positive`);
      if (line.account === '') throw refusedLocally(`share_returns[${i}] names no receiver account`);
      total += line.amount_minor;
      return { royalty_type: 'transfer', trans_out_type: receiver_type, trans_out: line.account, amount: formatYuan(line.amount_minor), desc: '退分账' };
    });
    if (total > request.amount_minor) throw refusedLocally('share_returns take back more than the refund amount');
  }
  return biz;
}

/** Refund refusals that may pass when the same out_request_no is tried again later. */
const retryable_refund_codes = new Set([
  'ACQ.SYSTEM_ERROR', 'aop.ACQ.SYSTEM_ERROR', 'ACQ.SELLER_BALANCE_NOT_ENOUGH', 'ACQ.FREQUENCY_LIMITED', 'ACQ.REFUND_CHARGE_ERROR',
]);

/** refund answer → status; `query` when Alipay says nothing moved this time (fund_change N). */
export function fromRefundResponse(body: AlipayRefundResponse, request: RefundRequest): RefundStatus | 'query' {
  if (body.sub_code !== undefined && retryable_refund_codes.has(body.sub_code)) {
    return { kind: 'failed', code: body.sub_code, message: clip(body.sub_msg ?? body.msg ?? ''), retryable: true };
  }
  const outcome = classify('refund', body);
  if (outcome.kind === 'error') throw outcome.error;
  if (outcome.kind === 'business_failure') return { kind: 'failed', code: outcome.sub_code, message: outcome.message, retryable: false };
  if (outcome.kind === 'processing' || body.fund_change !== 'Y') return 'query';
  const refunded_at = parseChinaDateTime(body.gmt_refund_pay);
  const channel_refund_no = body.trade_no || undefined;
  if (refunded_at === undefined || channel_refund_no === undefined) return 'query';
  // fund_change Y: this out_request_no moved exactly the amount it asked for.
  return { kind: 'succeeded', channel_refund_no, amount_minor: request.amount_minor, refunded_at };
}

export function toRefundQueryBiz(out_trade_no: string, out_request_no: string) {
  return { out_trade_no, out_request_no, query_options: ['gmt_refund_pay'] };
}

/**
 * fastpay.refund.query → status. Alipay: REFUND_SUCCESS is done; no refund data at all means
 * the refund was never received (or failed) and may be retried with the same out_request_no.
 */
export function fromRefundQueryResponse(body: AlipayRefundQueryResponse): RefundStatus {
  const outcome = classify('refund query', body);
  if (outcome.kind === 'error') throw outcome.error;
  if (outcome.kind === 'business_failure') {
    if (outcome.sub_code === 'ACQ.TRADE_NOT_EXIST') return { kind: 'not_found' };
    throw new ChannelError('ambiguous', outcome.sub_code, outcome.message);
  }
  const amount_minor = parseYuan(body.refund_amount);
  if (body.refund_status === 'REFUND_SUCCESS') {
    const refunded_at = parseChinaDateTime(body.gmt_refund_pay);
    const channel_refund_no = body.trade_no || undefined;
    if (amount_minor === undefined || refunded_at === undefined || channel_refund_no === undefined) return { kind: 'pending' };
    return { kind: 'succeeded', channel_refund_no, amount_minor, refunded_at };
  }
  if (amount_minor === undefined) return { kind: 'not_found' };
  return { kind: 'pending' };
}

// ---------------------------------------------------------------------------------------------
// Asynchronous notification

export type AlipayNotificationMeaning =
  | { type: 'payment'; attempt_id: string; status: AttemptStatus }
  /** out_biz_no present: Alipay reports a refund on the trade (refund_fee is cumulative). */
  | { type: 'refund'; attempt_id: string; refund_id: string; channel_trade_no: string | undefined };

/** Verified notification parameters → what they say. Pure: verification happens before. */
export function readNotification(params: Record<string, string>): AlipayNotificationMeaning {
  const attempt_id = params.out_trade_no;
  if (attempt_id === undefined || attempt_id === '') throw new ChannelError('bad_signature', 'MALFORMED', 'alipay notification has no out_trade_no');
  if (params.out_biz_no && params.refund_fee) {
    return { type: 'refund', attempt_id, refund_id: params.out_biz_no, channel_trade_no: params.trade_no || undefined };
  }
  return {
    type: 'payment',
    attempt_id,
    status: mapTradeStatus({
      trade_status: params.trade_status,
      trade_no: params.trade_no,
      total_amount: params.total_amount,
      paid_at_text: params.gmt_payment,
    }),
  };
}

/** Alipay stops retrying when the answer body is exactly `success`. */
export function notificationAnswer(accepted: boolean): HttpAnswer {
  return { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: accepted ? 'success' : 'failure' };
}

// ---------------------------------------------------------------------------------------------
// Bill (业务明细)

export const BILL_COLUMNS = [
  '支付宝交易号', '商户订单号', '业务类型', '商品名称', '创建时间', '完成时间', '门店编号', '门店名称', '操作员', '终端号',
  '对方账户', '订单金额（元）', '商家实收（元）', '支付宝红包（元）', '集分宝（元）', '支付宝优惠（元）', '商家优惠（元）',
  '券核销金额（元）', '券名称', '商家红包消费金额（元）', '卡消费金额（元）', '退款批次号/请求号', '服务费（元）', '分润（元）', '备注',
] as const;
assert(BILL_COLUMNS.length === 25);

const column = (name: (typeof BILL_COLUMNS)[number]): number => BILL_COLUMNS.indexOf(name);

/**
 * The decoded 业务明细 CSV → rows. `#` lines are comments; the header row names the columns;
 * values carry trailing tabs (Alipay pads them so spreadsheets keep long numbers as text).
 * amount_minor is positive for both kinds (payments: 订单金额, refunds: the refunded 商家实收);
 * fee_minor is what Alipay keeps: positive on payments, negative (returned) on refunds.
 */
export function parseBill(text: string, channel_id: string): StatementRow[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const rows: StatementRow[] = [];
  let header: string[] | undefined;
  for (const [index, line] of lines.entries()) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const fields = splitCsvLine(line).map((field) => field.trim());
    if (header === undefined) {
      if (fields[0] !== BILL_COLUMNS[0]) continue;
      if (fields.length < BILL_COLUMNS.length) throw badBill(`header has ${fields.length} columns, expected ${BILL_COLUMNS.length}`);
      header = fields;
      continue;
    }
    if (fields.length < BILL_COLUMNS.length) throw badBill(`line ${index + 1} has ${fields.length} columns`);
    rows.push(billRow(fields, channel_id, index + 1));
  }
  if (header === undefined) throw badBill('no 业务明细 header row');
  return rows;
}

function billRow(fields: string[], channel_id: string, line_no: number): StatementRow {
  const type = fields[column('业务类型')]!;
  const kind = type === '交易' ? 'payment' : type.startsWith('退款') ? 'refund' : undefined;
  if (kind === undefined) throw badBill(`line ${line_no}: unknown 业务类型 ${type}`);
  const amount = parseYuan(kind === 'payment' ? fields[column('订单金额（元）')] : fields[column('商家实收（元）')]);
  const fee = parseYuan(fields[column('服务费（元）')] || '0');
  const occurred_at = parseChinaDateTime(fields[column('完成时间')]) ?? parseChinaDateTime(fields[column('创建时间')]);
  if (amount === undefined || fee === undefined || occurred_at === undefined) throw badBill(`line ${line_no}: unreadable amount, fee or time`);
  const magnitude = (value: bigint) => (value < 0n ? -value : value);
  const row: StatementRow = {
    channel_id,
    attempt_id: fields[column('商户订单号')]!,
    channel_trade_no: fields[column('支付宝交易号')]!,
    kind,
    amount_minor: magnitude(amount),
    fee_minor: kind === 'payment' ? magnitude(fee) : -magnitude(fee),
    currency: 'CNY',
    occurred_at,
  };
  if (kind === 'refund' && fields[column('退款批次号/请求号')]) row.refund_id = fields[column('退款批次号/请求号')]!;
  return row;
}

function badBill(message: string): ChannelError {
  return new ChannelError('ambiguous', 'BAD_STATEMENT', `alipay bill: ${message}`);
}

/** The detail file of a bill archive: `<pid>_<yyyyMMdd>_业务明细.csv`, not the (汇总) summary. */
export function isDetailEntry(name: string): boolean {
  return name.endsWith('业务明细.csv');
}

function clip(text: string): string {
  return text.length <= provider_message_chars_max ? text : `${text.slice(0, provider_message_chars_max)}…`;
}
