// The sandbox's Alipay open platform gateway (`/gateway.do`): form-encoded calls verified
// with the app's public key (RSA2), answers `{"<method>_response":{…},"sign":"…"}` signed
// with the sandbox's Alipay platform key, asynchronous notifications as signed form POSTs
// that must be answered with `success`, the payer-facing WAP / PC / APP pages (a GET that
// creates the trade, as opening Alipay's cashier does), and the zipped GBK 业务明细 bill.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { ALIPAY_METHODS as METHODS, alipay_auth_code_pattern, alipay_out_trade_no_pattern as out_trade_no_pattern } from './protocol/wire';
import { chinaDateTime, formatYuan, isCalendarDate, parseChinaDateTime, parseYuan } from './protocol/formats';
import { HttpError, orders_max, stringField, type FaultContext, type FaultOperation, type Reply, type SandboxCore } from './core';
import { canonicalJson } from './wechatpay';
import { alipayKey, alipayResponseName, alipaySignNotification, alipaySignedAnswer, alipayVerifyRequest } from './protocol/alipay';
import { alipayBillArchive, billRows, type LedgerEntry } from './statements';
import { AlipayRoyalty, RoyaltyRefusal, type RefundRoyalty, type RoyaltyTrade } from './alipay-royalty';

export interface SandboxAlipayApp {
  app_id: string;
  app_public_key_pem: string;
  /** The seller PID (2088…) notifications carry. */
  seller_id: string;
}

export interface AlipaySandboxOptions {
  alipay_private_key_pem: string;
  apps: SandboxAlipayApp[];
}

/** Alipay refuses calls whose timestamp is further off than this. */
const timestamp_skew_ms_max = 15 * 60 * 1000;
/** A WAP / PC / APP order string may be opened this long after it was signed (time_expire bounds it too). */
const page_signature_age_ms_max = 24 * 60 * 60 * 1000;
const bills_max = 100;
const ledger_max = 4_000_000;

type TradeStatus = 'WAIT_BUYER_PAY' | 'TRADE_SUCCESS' | 'TRADE_CLOSED' | 'TRADE_FINISHED';

interface Trade {
  app_id: string;
  out_trade_no: string;
  trade_no: string;
  method: string;
  fingerprint: string;
  status: TradeStatus;
  total_fen: bigint;
  subject: string;
  notify_url: string | undefined;
  time_expire: string | undefined;
  qr_code?: string;
  created_at: Date;
  paid_at?: Date;
  buyer_id: string;
  buyer_logon_id: string;
  refunds: Map<string, { amount_fen: bigint; at: Date; royalty: RefundRoyalty[] }>;
  /** Created with extend_params.royalty_freeze "true": its money is frozen for 交易分账. */
  royalty_freeze: boolean;
  refunded_fen: bigint;
  create_requests: number;
  /** The payer's further payments of this trade (pay_twice): trade_no → fen refunded from
   * it. Each is its own money, refundable by its trade_no up to the trade total. */
  extra_payments?: Map<string, bigint>;
  /** Closed by alipay.trade.cancel (payment codes), not alipay.trade.close. */
  cancelled?: boolean;
}

const page_methods = new Set<string>([METHODS.wap, METHODS.page, METHODS.app]);
const operations: Record<string, FaultOperation> = {
  [METHODS.precreate]: 'create', [METHODS.wap]: 'create', [METHODS.page]: 'create', [METHODS.app]: 'create',
  [METHODS.pay]: 'barcode', [METHODS.query]: 'query', [METHODS.close]: 'close', [METHODS.cancel]: 'close', [METHODS.refund]: 'refund',
  [METHODS.refund_query]: 'refund_query', [METHODS.bill]: 'statement',
  // 交易分账: a settle is `share`; its query and a relation bind are `share_query`.
  [METHODS.settle]: 'share', [METHODS.settle_query]: 'share_query', [METHODS.royalty_bind]: 'share_query',
};
const royalty_methods = new Set<string>([METHODS.settle, METHODS.settle_query, METHODS.royalty_bind]);

class AlipayError extends Error {
  constructor(readonly code: string, readonly msg: string, readonly sub_code: string, readonly sub_msg: string) {
    super(sub_msg);
  }
}

const business = (sub_code: string, sub_msg: string) => new AlipayError('40004', 'Business Failed', sub_code, sub_msg);
const invalid = (sub_code: string, sub_msg: string) => new AlipayError('40002', 'Invalid Arguments', sub_code, sub_msg);

export class AlipaySandbox {
  readonly #core: SandboxCore;
  readonly #alipay_private_key: KeyObject;
  readonly #apps = new Map<string, SandboxAlipayApp & { app_public_key: KeyObject }>();
  readonly #trades = new Map<string, Trade>();
  #ledger: LedgerEntry[] = [];
  readonly #bills = new Map<string, { file_name: string; archive: Buffer }>();
  readonly #royalty: AlipayRoyalty;
  #sequence = 0;

  /** `settle_ms`: how long an async settle (royalty_mode async) stays PROCESSING. */
  constructor(options: AlipaySandboxOptions, core: SandboxCore, settle_ms = 50) {
    this.#core = core;
    this.#alipay_private_key = alipayKey(options.alipay_private_key_pem, 'private');
    for (const app of options.apps) this.#apps.set(app.app_id, { ...app, app_public_key: alipayKey(app.app_public_key_pem, 'public') });
    this.#royalty = new AlipayRoyalty(core, (app_id, trade_no) => {
      const trade = [...this.#trades.values()].find((t) => t.app_id === app_id && t.trade_no === trade_no);
      return trade === undefined ? undefined : this.#royaltyTrade(trade);
    }, settle_ms);
  }

  #royaltyTrade(trade: Trade): RoyaltyTrade {
    return {
      app_id: trade.app_id, seller_id: this.#apps.get(trade.app_id)?.seller_id ?? '', out_trade_no: trade.out_trade_no, trade_no: trade.trade_no,
      paid: trade.paid_at !== undefined && !trade.cancelled, royalty_freeze: trade.royalty_freeze, total_fen: trade.total_fen, refunded_fen: trade.refunded_fen,
    };
  }

  reset(): void {
    this.#royalty.reset();
    this.#trades.clear();
    this.#ledger = [];
    this.#bills.clear();
  }

  // -------------------------------------------------------------------------------------------
  // Gateway

  async handleGateway(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer): Promise<void> {
    const params: Record<string, string> = {};
    for (const [name, value] of url.searchParams) params[name] = value;
    if (req.method === 'POST') for (const [name, value] of new URLSearchParams(body.toString('utf8'))) params[name] = value;
    const method = params.method ?? '';
    const page = page_methods.has(method);
    const app = this.#apps.get(params.app_id ?? '');
    const out_trade_no = royalty_methods.has(method) && app !== undefined
      ? this.#royalty.outTradeNo(app.app_id, parseBizQuietly(params.biz_content))
      : outTradeNoOf(params.biz_content);
    const context: FaultContext = { provider: 'alipay', merchant: params.app_id ?? '', out_trade_no, operation: operations[method] };
    let answer: Record<string, unknown>;
    let latency_ms = 0;
    try {
      if (app === undefined) throw invalid('isv.invalid-app-id', '无效的AppID参数');
      if (!alipayVerifyRequest(params, app.app_public_key)) throw invalid('isv.invalid-signature', '验签出错');
      const sent_at = parseChinaDateTime(params.timestamp);
      if (sent_at === undefined || Math.abs(Date.now() - sent_at.getTime()) > (page ? page_signature_age_ms_max : timestamp_skew_ms_max)) {
        throw invalid('isv.invalid-timestamp', '非法的时间戳参数');
      }
      if (operations[method] === undefined) throw invalid('isv.invalid-method', '不存在的方法名');
      const refusal = this.#core.refusal(context);
      if (refusal.fail_status !== undefined) {
        if (this.#core.shut_down || res.destroyed) return;
        res.writeHead(refusal.fail_status, { 'Content-Type': 'text/html; charset=utf-8' });
        res.end('<html><body>502 Bad Gateway (injected fault)</body></html>');
        return;
      }
      if (refusal.reject !== undefined) {
        throw refusal.reject.status >= 500
          ? new AlipayError('20000', 'Service Currently Unavailable', refusal.reject.code, refusal.reject.message)
          : business(refusal.reject.code, refusal.reject.message);
      }
      const biz = parseBiz(params.biz_content);
      answer = this.#dispatch(app, method, biz, params, req.headers.host ?? '127.0.0.1', context);
      latency_ms = this.#core.latency(context);
    } catch (error) {
      if (error instanceof RoyaltyRefusal) {
        answer = { code: error.code, msg: error.code === '40002' ? 'Invalid Arguments' : 'Business Failed', sub_code: error.sub_code, sub_msg: error.sub_msg };
      } else {
        if (!(error instanceof AlipayError)) throw error;
        answer = { code: error.code, msg: error.msg, sub_code: error.sub_code, sub_msg: error.sub_msg };
      }
    }
    if (latency_ms > 0) await this.#core.sleep(latency_ms);
    if (this.#core.shut_down || res.destroyed) return;
    if (page) {
      res.writeHead(answer.code === '10000' ? 200 : 400, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(cashierPage(answer));
      return;
    }
    const key = operations[method] === undefined ? 'error_response' : alipayResponseName(method);
    res.writeHead(200, { 'Content-Type': 'application/json;charset=utf-8' });
    res.end(alipaySignedAnswer(key, answer, this.#alipay_private_key));
  }

  #dispatch(
    app: SandboxAlipayApp,
    method: string,
    biz: Record<string, unknown>,
    params: Record<string, string>,
    host: string,
    context: FaultContext,
  ): Record<string, unknown> {
    switch (method) {
      case METHODS.precreate:
      case METHODS.wap:
      case METHODS.page:
      case METHODS.app: return this.#create(app, method, biz, params);
      case METHODS.pay: return this.#pay(app, biz, params, context);
      case METHODS.query: return this.#query(app, biz);
      case METHODS.close: return this.#close(app, biz);
      case METHODS.cancel: return this.#cancel(app, biz);
      case METHODS.refund: return this.#refund(app, biz);
      case METHODS.refund_query: return this.#refundQuery(app, biz);
      case METHODS.royalty_bind: return this.#royalty.bind(app.app_id, biz);
      case METHODS.settle: return this.#royalty.settle(app.app_id, biz);
      case METHODS.settle_query: return this.#royalty.query(app.app_id, biz);
      default: return this.#bill(app, biz, host);
    }
  }

  /** alipay.trade.cancel (payment codes): an unpaid trade closes (action close); a paid one is
   * refunded in full and closed (action refund). */
  #cancel(app: SandboxAlipayApp, biz: Record<string, unknown>): Record<string, unknown> {
    const trade = this.#find(app, biz);
    let action = 'close';
    if (trade.status === 'TRADE_SUCCESS' || trade.status === 'TRADE_FINISHED') {
      action = 'refund';
      trade.refunded_fen = trade.total_fen;
    }
    trade.status = 'TRADE_CLOSED';
    trade.cancelled = true;
    this.#core.log({ event: 'order_cancelled', provider: 'alipay', app_id: app.app_id, out_trade_no: trade.out_trade_no, action });
    return { code: '10000', msg: 'Success', trade_no: trade.trade_no, out_trade_no: trade.out_trade_no, retry_flag: 'N', action };
  }

  #create(app: SandboxAlipayApp, method: string, biz: Record<string, unknown>, params: Record<string, string>): Record<string, unknown> {
    const { out_trade_no, total_fen, subject } = validateTrade(biz);
    const fingerprint = canonicalJson({ method, out_trade_no, total_amount: formatYuan(total_fen), subject });
    const existing = this.#existing(app, out_trade_no, fingerprint);
    const trade = existing ?? this.#open(app, method, out_trade_no, total_fen, subject, fingerprint, params, stringField(biz, 'time_expire'));
    if (method === METHODS.precreate) {
      trade.qr_code ??= `https://qr.alipay.com/bax0${randomBytes(10).toString('hex')}`;
      return { code: '10000', msg: 'Success', out_trade_no, qr_code: trade.qr_code };
    }
    return { code: '10000', msg: 'Success', out_trade_no, trade_no: trade.trade_no, total_amount: formatYuan(total_fen), subject };
  }

  #pay(app: SandboxAlipayApp, biz: Record<string, unknown>, params: Record<string, string>, context: FaultContext): Record<string, unknown> {
    const { out_trade_no, total_fen, subject } = validateTrade(biz);
    const auth_code = stringField(biz, 'auth_code') ?? '';
    if (biz.scene !== 'bar_code' && biz.scene !== 'security_code') throw invalid('isv.invalid-parameter', 'scene参数错误');
    if (!alipay_auth_code_pattern.test(auth_code)) throw business('ACQ.PAYMENT_AUTH_CODE_INVALID', '支付失败，获取顾客账户信息失败，请顾客刷新付款码后重新收款');
    const fingerprint = canonicalJson({ method: METHODS.pay, out_trade_no, total_amount: formatYuan(total_fen), auth_code });
    const known = this.#trades.get(tradeKey(app.app_id, out_trade_no));
    if (known !== undefined && this.#core.take(context, (fault) => fault.barcode_repeat_refused === true) !== undefined) {
      known.create_requests += 1;
      throw business('ACQ.CONTEXT_INCONSISTENT', '交易信息被篡改');
    }
    const existing = this.#existing(app, out_trade_no, fingerprint);
    const trade = existing ?? this.#open(app, METHODS.pay, out_trade_no, total_fen, subject, fingerprint, params, stringField(biz, 'time_expire'));
    if (existing === undefined && this.#core.take(context, (fault) => fault.barcode_userpaying === true) === undefined) {
      this.#markPaid(trade, { ...context, operation: undefined });
    }
    const base = { out_trade_no, trade_no: trade.trade_no, buyer_logon_id: trade.buyer_logon_id, total_amount: formatYuan(total_fen) };
    if (trade.status === 'WAIT_BUYER_PAY') return { code: '10003', msg: 'order success pay inprocess', ...base };
    return {
      code: '10000', msg: 'Success', ...base, receipt_amount: formatYuan(total_fen), buyer_pay_amount: formatYuan(total_fen),
      gmt_payment: chinaDateTime(trade.paid_at!), buyer_user_id: trade.buyer_id,
      fund_bill_list: [{ fund_channel: 'ALIPAYACCOUNT', amount: formatYuan(total_fen) }],
    };
  }

  /** The open trade with this out_trade_no, or an error saying why it cannot be reused. */
  #existing(app: SandboxAlipayApp, out_trade_no: string, fingerprint: string): Trade | undefined {
    const trade = this.#trades.get(tradeKey(app.app_id, out_trade_no));
    if (trade === undefined) return undefined;
    trade.create_requests += 1;
    if (trade.fingerprint !== fingerprint) throw business('ACQ.CONTEXT_INCONSISTENT', '交易信息被篡改');
    if (trade.status === 'TRADE_SUCCESS' || trade.status === 'TRADE_FINISHED') throw business('ACQ.TRADE_HAS_SUCCESS', '交易已被支付');
    if (trade.status === 'TRADE_CLOSED') throw business('ACQ.TRADE_HAS_CLOSE', '交易已经关闭');
    return trade;
  }

  #open(
    app: SandboxAlipayApp, method: string, out_trade_no: string, total_fen: bigint, subject: string, fingerprint: string,
    params: Record<string, string>, time_expire: string | undefined,
  ): Trade {
    if (this.#trades.size >= orders_max) throw new AlipayError('20000', 'Service Currently Unavailable', 'isp.unknow-error', `sandbox holds ${orders_max} trades; POST /sandbox/reset`);
    if (time_expire !== undefined && parseChinaDateTime(time_expire) === undefined) throw invalid('isv.invalid-parameter', 'time_expire格式错误');
    if (time_expire !== undefined && parseChinaDateTime(time_expire)!.getTime() < Date.now()) throw business('ACQ.TRADE_HAS_CLOSE', '交易已超时关闭');
    const trade: Trade = {
      app_id: app.app_id, out_trade_no, trade_no: this.#nextTradeNo(), method, fingerprint, status: 'WAIT_BUYER_PAY', total_fen, subject,
      notify_url: params.notify_url || undefined, time_expire, created_at: new Date(), buyer_id: `2088${String(randomBytes(6).readUIntBE(0, 6)).padStart(12, '0').slice(0, 12)}`,
      buyer_logon_id: 'san***@sandbox.com', refunds: new Map(), refunded_fen: 0n, create_requests: 1, royalty_freeze: royaltyFreeze(params.biz_content),
    };
    this.#trades.set(tradeKey(app.app_id, out_trade_no), trade);
    this.#core.log({ event: 'order_created', provider: 'alipay', app_id: app.app_id, out_trade_no, method });
    return trade;
  }

  #find(app: SandboxAlipayApp, biz: Record<string, unknown>): Trade {
    const out_trade_no = stringField(biz, 'out_trade_no');
    const trade_no = stringField(biz, 'trade_no');
    if (out_trade_no === undefined && trade_no === undefined) throw invalid('isv.missing-parameter', 'out_trade_no和trade_no不能同时为空');
    const trade = trade_no !== undefined
      ? [...this.#trades.values()].find((t) => t.app_id === app.app_id && (t.trade_no === trade_no || t.extra_payments?.has(trade_no) === true))
      : this.#trades.get(tradeKey(app.app_id, out_trade_no!));
    if (trade === undefined) throw business('ACQ.TRADE_NOT_EXIST', '交易不存在');
    return trade;
  }

  #query(app: SandboxAlipayApp, biz: Record<string, unknown>): Record<string, unknown> {
    const trade = this.#find(app, biz);
    const paid = trade.paid_at !== undefined;
    return {
      code: '10000', msg: 'Success', trade_no: trade.trade_no, out_trade_no: trade.out_trade_no, buyer_logon_id: trade.buyer_logon_id,
      trade_status: trade.status, total_amount: formatYuan(trade.total_fen), buyer_user_id: trade.buyer_id,
      ...(paid
        ? { send_pay_date: chinaDateTime(trade.paid_at!), receipt_amount: formatYuan(trade.total_fen), buyer_pay_amount: formatYuan(trade.total_fen) }
        : {}),
    };
  }

  #close(app: SandboxAlipayApp, biz: Record<string, unknown>): Record<string, unknown> {
    const trade = this.#find(app, biz);
    if (trade.status !== 'WAIT_BUYER_PAY') throw business('ACQ.TRADE_STATUS_ERROR', '交易状态不合法');
    trade.status = 'TRADE_CLOSED';
    this.#core.log({ event: 'order_closed', provider: 'alipay', app_id: app.app_id, out_trade_no: trade.out_trade_no });
    return { code: '10000', msg: 'Success', trade_no: trade.trade_no, out_trade_no: trade.out_trade_no };
  }

  #refund(app: SandboxAlipayApp, biz: Record<string, unknown>): Record<string, unknown> {
    const trade = this.#find(app, biz);
    const amount_fen = parseYuan(stringField(biz, 'refund_amount'));
    if (amount_fen === undefined || amount_fen <= 0n) throw invalid('isv.invalid-parameter', 'refund_amount参数错误');
    const out_request_no = stringField(biz, 'out_request_no') ?? trade.out_trade_no;
    if (!out_trade_no_pattern.test(out_request_no)) throw invalid('isv.invalid-parameter', 'out_request_no格式错误');
    const base = { trade_no: trade.trade_no, out_trade_no: trade.out_trade_no, buyer_logon_id: trade.buyer_logon_id, buyer_user_id: trade.buyer_id };
    const existing = trade.refunds.get(out_request_no);
    if (existing !== undefined) {
      if (existing.amount_fen !== amount_fen || !sameRoyalty(biz.refund_royalty_parameters ?? [], existing.royalty)) throw business('ACQ.DISCORDANT_REPEAT_REQUEST', '请求信息不一致');
      return { code: '10000', msg: 'Success', ...base, fund_change: 'N', refund_fee: formatYuan(trade.refunded_fen), gmt_refund_pay: chinaDateTime(existing.at) };
    }
    if (trade.paid_at === undefined) throw business('ACQ.TRADE_STATUS_ERROR', '交易状态不合法');
    // A refund naming a further payment's trade_no returns that payment's money, not the trade's.
    const named = stringField(biz, 'trade_no');
    const extra_trade_no = named !== undefined && trade.extra_payments?.has(named) === true ? named : undefined;
    const refunded_fen = extra_trade_no === undefined ? trade.refunded_fen : trade.extra_payments!.get(extra_trade_no)!;
    if (refunded_fen + amount_fen > trade.total_fen) throw business('ACQ.REFUND_AMT_NOT_EQUAL_TOTAL', '退款金额超限');
    // 交易分账: what the receivers hold of the trade is not the merchant's; the refund takes it
    // back (refund_royalty_parameters) or the merchant's part must cover it.
    const royalty = extra_trade_no === undefined ? this.#royalty.checkRefund(this.#royaltyTrade(trade), amount_fen, biz.refund_royalty_parameters) : [];
    const at = new Date();
    this.#royalty.applyRefund(this.#royaltyTrade(trade), royalty);
    trade.refunds.set(out_request_no, { amount_fen, at, royalty });
    if (extra_trade_no === undefined) {
      trade.refunded_fen += amount_fen;
      if (trade.refunded_fen === trade.total_fen) trade.status = 'TRADE_CLOSED';
    } else {
      trade.extra_payments!.set(extra_trade_no, refunded_fen + amount_fen);
    }
    this.#addLedger({
      merchant: app.app_id, kind: 'refund', out_trade_no: trade.out_trade_no, trade_no: extra_trade_no ?? trade.trade_no, out_refund_no: out_request_no,
      amount_fen, order_total_fen: trade.total_fen, at, created_at: trade.created_at, subject: trade.subject, trade_type: trade.method,
      payer: trade.buyer_logon_id,
    });
    this.#core.log({ event: 'refund_created', provider: 'alipay', out_trade_no: trade.out_trade_no, out_request_no });
    if (trade.notify_url !== undefined) {
      this.#notify(trade, 'refund', { out_biz_no: out_request_no, refund_fee: formatYuan(trade.refunded_fen), gmt_refund: chinaDateTime(at) }, 0, 0, out_request_no);
    }
    return { code: '10000', msg: 'Success', ...base, fund_change: 'Y', refund_fee: formatYuan(trade.refunded_fen), gmt_refund_pay: chinaDateTime(at) };
  }

  #refundQuery(app: SandboxAlipayApp, biz: Record<string, unknown>): Record<string, unknown> {
    const trade = this.#find(app, biz);
    const out_request_no = stringField(biz, 'out_request_no') ?? '';
    const refund = trade.refunds.get(out_request_no);
    const base = { code: '10000', msg: 'Success', trade_no: trade.trade_no, out_trade_no: trade.out_trade_no };
    if (refund === undefined) return base;
    const options = Array.isArray(biz.query_options) ? biz.query_options : [];
    return {
      ...base, out_request_no, total_amount: formatYuan(trade.total_fen), refund_amount: formatYuan(refund.amount_fen), refund_status: 'REFUND_SUCCESS',
      ...(options.includes('gmt_refund_pay') ? { gmt_refund_pay: chinaDateTime(refund.at) } : {}),
    };
  }

  #bill(app: SandboxAlipayApp, biz: Record<string, unknown>, host: string): Record<string, unknown> {
    if (biz.bill_type !== 'trade') throw invalid('isv.invalid-parameter', 'sandbox只支持bill_type=trade');
    const date = stringField(biz, 'bill_date') ?? '';
    if (!isCalendarDate(date)) throw invalid('isv.invalid-parameter', 'bill_date格式错误 (yyyy-MM-dd)');
    const context: FaultContext = { provider: 'alipay', merchant: app.app_id, out_trade_no: undefined };
    const extra = this.#core.peek(context, (f) => (f.statement_extra_rows ?? 0) > 0)?.statement_extra_rows ?? 0;
    const rows = billRows(
      this.#ledger.filter((entry) => entry.merchant === app.app_id),
      date,
      (entry) => this.#statementFault(app.app_id, entry.out_trade_no),
      extra,
    );
    const { file_name, archive } = alipayBillArchive(rows, app.seller_id, date, new Date());
    if (this.#bills.size >= bills_max) this.#bills.delete(this.#bills.keys().next().value!);
    const file_id = randomUUID().replace(/-/g, '');
    this.#bills.set(file_id, { file_name, archive });
    const query = new URLSearchParams({ bizType: 'trade', userId: app.seller_id, fileType: 'csv.zip', bizDates: date.replace(/-/g, ''), downloadFileName: file_name, fileId: file_id });
    return { code: '10000', msg: 'Success', bill_download_url: `http://${host}/downloadBillFile.resource?${query}` };
  }

  /** GET /downloadBillFile.resource: the archive, as dwbillcenter serves it (no signature). */
  downloadBill(res: ServerResponse, url: URL): void {
    const bill = this.#bills.get(url.searchParams.get('fileId') ?? '');
    if (bill === undefined) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('file not found');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/oct-stream', 'Content-Length': String(bill.archive.length) });
    res.end(bill.archive);
  }

  #statementFault(app_id: string, out_trade_no: string) {
    const context: FaultContext = { provider: 'alipay', merchant: app_id, out_trade_no, operation: 'statement' };
    return {
      missing: this.#core.peek(context, (f) => f.statement_missing === true) !== undefined,
      amount_delta_fen: BigInt(this.#core.peek(context, (f) => (f.statement_amount_delta_minor ?? 0) !== 0)?.statement_amount_delta_minor ?? 0),
      next_day: this.#core.peek(context, (f) => f.statement_next_day === true) !== undefined,
    };
  }

  // Paying and notifying ----------------------------------------------------------------------

  #markPaid(trade: Trade, context: FaultContext): 'scheduled' | 'dropped' | 'none' {
    trade.status = 'TRADE_SUCCESS';
    trade.paid_at = new Date();
    this.#core.log({ event: 'order_paid', provider: 'alipay', app_id: trade.app_id, out_trade_no: trade.out_trade_no });
    this.#addLedger(this.#paymentEntry(trade, trade.trade_no));
    const twice = this.#core.take(context, (fault) => fault.pay_twice === true) !== undefined;
    const second_trade_no = twice ? this.#nextTradeNo() : undefined;
    if (second_trade_no !== undefined) {
      this.#addLedger(this.#paymentEntry(trade, second_trade_no));
      (trade.extra_payments ??= new Map()).set(second_trade_no, 0n);
    }
    if (trade.notify_url === undefined) return 'none';
    const faults = this.#core.callbackFaults(context);
    if (faults.dropped) return 'dropped';
    this.#notify(trade, 'payment', {}, faults.duplicates, faults.delay_ms);
    if (second_trade_no !== undefined) this.#notify(trade, 'payment', { trade_no: second_trade_no }, 0, faults.delay_ms);
    return 'scheduled';
  }

  #paymentEntry(trade: Trade, trade_no: string): LedgerEntry {
    return {
      merchant: trade.app_id, kind: 'payment', out_trade_no: trade.out_trade_no, trade_no, amount_fen: trade.total_fen,
      order_total_fen: trade.total_fen, at: trade.paid_at!, created_at: trade.created_at, subject: trade.subject, trade_type: trade.method,
      payer: trade.buyer_logon_id,
    };
  }

  #notify(trade: Trade, kind: 'payment' | 'refund', extra: Record<string, string>, duplicates: number, delay_ms: number, out_refund_no?: string): void {
    const app = this.#apps.get(trade.app_id)!;
    const notify_id = randomBytes(16).toString('hex');
    const fields: Record<string, string> = {
      notify_type: 'trade_status_sync', notify_id, app_id: trade.app_id, auth_app_id: trade.app_id, charset: 'utf-8', version: '1.0',
      trade_no: trade.trade_no, out_trade_no: trade.out_trade_no, buyer_id: trade.buyer_id, buyer_logon_id: trade.buyer_logon_id,
      seller_id: app.seller_id, trade_status: trade.status, total_amount: formatYuan(trade.total_fen), receipt_amount: formatYuan(trade.total_fen),
      invoice_amount: formatYuan(trade.total_fen), buyer_pay_amount: formatYuan(trade.total_fen), point_amount: '0.00', subject: trade.subject,
      gmt_create: chinaDateTime(trade.created_at),
      fund_bill_list: JSON.stringify([{ amount: formatYuan(trade.total_fen), fundChannel: 'ALIPAYACCOUNT' }]),
      ...(trade.paid_at ? { gmt_payment: chinaDateTime(trade.paid_at) } : {}),
      ...extra,
    };
    this.#core.deliver({
      provider: 'alipay', event_id: notify_id, mchid: trade.app_id, out_trade_no: trade.out_trade_no, kind, notify_url: trade.notify_url!,
      ...(out_refund_no ? { out_refund_no } : {}), duplicates, delay_ms,
      build: () => {
        const signed = alipaySignNotification({ ...fields, notify_time: chinaDateTime(new Date()) }, this.#alipay_private_key);
        return { body: new URLSearchParams(signed).toString(), headers: { 'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8', 'User-Agent': 'Mozilla/4.0 (sandbox alipay)' } };
      },
      acknowledged: (status, answer) => status === 200 && answer.trim() === 'success',
    });
  }

  // Control API -------------------------------------------------------------------------------

  control(method: string, path: string, url: URL, body: unknown): Reply | undefined {
    const prefix = url.searchParams.get('out_trade_no_prefix') ?? '';
    if (method === 'GET' && path === '/sandbox/alipay/orders') {
      const orders = [...this.#trades.values()].filter((t) => t.out_trade_no.startsWith(prefix)).map((t) => ({
        app_id: t.app_id, out_trade_no: t.out_trade_no, trade_no: t.trade_no, method: t.method, trade_status: t.status,
        total_amount: formatYuan(t.total_fen), refunded_amount: formatYuan(t.refunded_fen), create_requests: t.create_requests, cancelled: t.cancelled === true,
        royalty_freeze: t.royalty_freeze,
        created_at: t.created_at.toISOString(),
      }));
      return { status: 200, body: { orders } };
    }
    if (method === 'GET' && path === '/sandbox/alipay/refunds') {
      const refunds = [...this.#trades.values()].filter((t) => t.out_trade_no.startsWith(prefix)).flatMap((t) =>
        [...t.refunds.entries()].map(([out_request_no, refund]) => ({
          app_id: t.app_id, out_trade_no: t.out_trade_no, trade_no: t.trade_no, out_request_no,
          refund_amount: formatYuan(refund.amount_fen), gmt_refund_pay: chinaDateTime(refund.at),
          refund_royalty_parameters: refund.royalty.map((r) => ({ trans_out: r.trans_out, amount: formatYuan(r.amount_fen) })),
        })));
      return { status: 200, body: { refunds } };
    }
    if (method === 'GET' && path === '/sandbox/alipay/royalty') return this.#royalty.control(prefix);
    const pay = /^\/sandbox\/alipay\/orders\/([^/]+)\/pay$/.exec(path);
    if (method === 'POST' && pay !== null) return this.#controlPay(decodeURIComponent(pay[1]!), stringField(body, 'app_id'));
    return undefined;
  }

  #controlPay(out_trade_no: string, app_id: string | undefined): Reply {
    const candidates = [...this.#trades.values()].filter((t) => t.out_trade_no === out_trade_no && (app_id === undefined || t.app_id === app_id));
    if (candidates.length === 0) throw new HttpError(404, 'NOT_FOUND', `no trade ${out_trade_no} (WAP / PC / APP trades exist once the payer opens them)`);
    if (candidates.length > 1) throw new HttpError(409, 'AMBIGUOUS', `several apps have ${out_trade_no}; pass {app_id}`);
    const trade = candidates[0]!;
    const context: FaultContext = { provider: 'alipay', merchant: trade.app_id, out_trade_no };
    if (trade.paid_at !== undefined) {
      return { status: 200, body: { out_trade_no, trade_no: trade.trade_no, trade_status: trade.status, already_paid: true } };
    }
    if (trade.status === 'TRADE_CLOSED' && this.#core.take(context, (fault) => fault.success_after_close === true) === undefined) {
      throw new HttpError(409, 'TRADE_CLOSED', `trade ${out_trade_no} is TRADE_CLOSED`);
    }
    const callback = this.#markPaid(trade, context);
    return { status: 200, body: { out_trade_no, trade_no: trade.trade_no, trade_status: trade.status, callback } };
  }

  #addLedger(entry: LedgerEntry): void {
    this.#ledger.push(entry);
    if (this.#ledger.length > ledger_max) this.#ledger.splice(0, this.#ledger.length - ledger_max);
  }

  #nextTradeNo(): string {
    this.#sequence += 1;
    const date = chinaDateTime(new Date()).slice(0, 10).replace(/-/g, '');
    return `${date}22001${String(this.#sequence % 1e6).padStart(6, '0')}${String(Math.floor(Math.random() * 1e9)).padStart(9, '0')}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Pure helpers

function tradeKey(app_id: string, out_trade_no: string): string {
  return `${app_id}\u0000${out_trade_no}`;
}

function outTradeNoOf(biz_content: string | undefined): string | undefined {
  try {
    return stringField(JSON.parse(biz_content ?? ''), 'out_trade_no');
  } catch {
    return undefined;
  }
}

/** biz_content as an object, or {} when it is none (for fault scopes, before validation). */
function parseBizQuietly(biz_content: string | undefined): Record<string, unknown> {
  try {
    return parseBiz(biz_content);
  } catch {
    return {};
  }
}

/** extend_params.royalty_freeze "true" on a create: the trade's money is frozen for royalty. */
function royaltyFreeze(biz_content: string | undefined): boolean {
  const extend = parseBizQuietly(biz_content).extend_params;
  const freeze = typeof extend === 'object' && extend !== null ? (extend as Record<string, unknown>).royalty_freeze : undefined;
  return freeze === 'true' || freeze === true;
}

/** A refund's refund_royalty_parameters again: the same shares as the first time. */
function sameRoyalty(value: unknown, then: readonly RefundRoyalty[]): boolean {
  if (!Array.isArray(value) || value.length !== then.length) return false;
  return value.every((item: unknown, i) => stringField(item, 'trans_out') === then[i]!.trans_out && parseYuan(stringField(item, 'amount')) === then[i]!.amount_fen);
}

function parseBiz(biz_content: string | undefined): Record<string, unknown> {
  if (biz_content === undefined || biz_content === '') throw new AlipayError('40001', 'Missing Required Arguments', 'isv.missing-biz-content', '缺少biz_content参数');
  try {
    const parsed = JSON.parse(biz_content) as unknown;
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw invalid('isv.invalid-parameter', 'biz_content不是合法的JSON');
}

function validateTrade(biz: Record<string, unknown>): { out_trade_no: string; total_fen: bigint; subject: string } {
  const out_trade_no = stringField(biz, 'out_trade_no') ?? '';
  if (!out_trade_no_pattern.test(out_trade_no)) throw invalid('isv.invalid-parameter', 'out_trade_no参数错误');
  const total_fen = parseYuan(stringField(biz, 'total_amount'));
  if (total_fen === undefined || total_fen < 1n || total_fen > 10_000_000_000n) throw invalid('isv.invalid-parameter', 'total_amount取值范围[0.01,100000000]');
  const subject = stringField(biz, 'subject') ?? '';
  if (subject === '' || Array.from(subject).length > 256) throw invalid('isv.invalid-parameter', 'subject参数错误');
  return { out_trade_no, total_fen, subject };
}

/** The payer's cashier: what the sandbox shows on a WAP / PC / APP order it has just opened. */
function cashierPage(answer: Record<string, unknown>): string {
  const escape = (value: unknown) => String(value ?? '').replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  if (answer.code !== '10000') {
    return `<!doctype html><html><body><h1>支付宝 sandbox</h1><p>${escape(answer.sub_code)}: ${escape(answer.sub_msg)}</p></body></html>`;
  }
  return '<!doctype html><html><head><meta charset="utf-8"><title>支付宝 sandbox cashier</title></head><body>'
    + `<h1>支付宝 sandbox cashier</h1><p>out_trade_no: <b id="out_trade_no">${escape(answer.out_trade_no)}</b></p>`
    + `<p>trade_no: <b id="trade_no">${escape(answer.trade_no)}</b></p><p>total_amount: ${escape(answer.total_amount)}</p>`
    + `<p>Pay it: POST /sandbox/alipay/orders/${escape(answer.out_trade_no)}/pay</p></body></html>`;
}
