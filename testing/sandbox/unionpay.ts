// The sandbox's China UnionPay 全渠道 gateway for 无跳转 token payment (ACP 5.1.0):
// `/gateway/api/backTransReq.do` (消费短信 77/02, 消费 01/01 with the SMS code, 退货 04/00) and
// `/gateway/api/queryTrans.do` (交易状态查询 00/00), form requests verified with the merchant's
// signing key (signMethod 01, certId checked), `k=v&…` answers signed with the sandbox's
// UnionPay key, and signed backUrl notifications (acknowledged by HTTP 200). "The SMS" is
// kept per order and read through the control API (GET /sandbox/unionpay/sms?order_id=).

import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomInt, type KeyObject } from 'node:crypto';
import { unionpayKey, unionpaySign, unionpayVerify } from './protocol/unionpay';
import {
  UNIONPAY_BIZ_TYPE_TOKEN as BIZ_TYPE_TOKEN, UNIONPAY_ENDPOINTS as ENDPOINTS, UNIONPAY_TXN as TXN, UNIONPAY_VERSION as VERSION,
  unionpay_order_id_pattern as order_id_pattern,
} from './protocol/wire';
import { deflateSync } from 'node:zlib';
import { compactChinaTime as txnTimeOf, formatResponse, parseCompactChinaTime as parseTxnTime, parseCustomerInfo, parseFen, parseResponse } from './protocol/formats';
import { billRows, unionpayFileArchive, type LedgerEntry, type StatementFaultEffect } from './statements';
import { HttpError, orders_max, type FaultContext, type FaultOperation, type Reply, type SandboxCore } from './core';

export interface SandboxUnionpayMerchant {
  mer_id: string;
  tr_id: string;
  sign_cert_id: string;
  sign_public_key_pem: string;
}

export interface UnionpaySandboxOptions {
  /** UnionPay's signing key: answers and notifications. */
  verify_private_key_pem: string;
  verify_cert_id: string;
  merchants: SandboxUnionpayMerchant[];
}

/** A new order's txnTime must be within this of the sandbox's clock. */
const txn_time_skew_ms_max = 24 * 60 * 60 * 1000;
/** SMS requests one order may make (UnionPay limits re-sends too). */
const sms_sends_max = 10;

type OrderStatus = 'SMS_SENT' | 'SUCCESS' | 'FAILED';

interface Order {
  mer_id: string;
  order_id: string;
  txn_time: string;
  amount_fen: bigint;
  token: string;
  sms_code: string;
  sms_sends: number;
  sms_sent_at: Date;
  phone_masked: string;
  status: OrderStatus;
  resp_code: string | undefined;
  resp_msg: string | undefined;
  query_id: string | undefined;
  paid_at: Date | undefined;
  back_url: string | undefined;
  req_reserved: string | undefined;
  refunded_fen: bigint;
  /** Further transactions of this order (pay_twice): listed in the 对账文件, refundable. */
  extra_query_ids: string[];
  consume_requests: number;
  wrong_codes: number;
  created_at: Date;
}

/** A card opening (开通) in progress or done, keyed like an order. */
interface Binding {
  mer_id: string;
  order_id: string;
  txn_time: string;
  card_no: string;
  phone_masked: string;
  sms_code: string;
  sms_sends: number;
  wrong_codes: number;
  status: 'SMS_SENT' | 'OPENED' | 'FAILED';
  token: string | undefined;
}

/** Wrong codes one consume order takes before it fails. */
const consume_wrong_codes_max = 5;
/** Wrong codes one opening takes before it fails (the cardholder must start again). */
const binding_wrong_codes_max = 5;

interface Refund {
  mer_id: string;
  order_id: string;
  txn_time: string;
  orig: Order;
  /** The transaction it returns (the order's, or a second one of a payer who paid twice). */
  orig_query_id: string;
  amount_fen: bigint;
  query_id: string;
  at: Date;
  back_url: string | undefined;
  req_reserved: string | undefined;
}

class UnionpayError extends Error {
  constructor(readonly resp_code: string, readonly resp_msg: string) {
    super(resp_msg);
  }
}

const fail = (code: string, message: string) => new UnionpayError(code, message);

export class UnionpaySandbox {
  readonly #core: SandboxCore;
  readonly #key: KeyObject;
  readonly #cert_id: string;
  readonly #merchants = new Map<string, SandboxUnionpayMerchant & { sign_public_key: KeyObject }>();
  readonly #orders = new Map<string, Order>();
  readonly #refunds = new Map<string, Refund>();
  readonly #bindings = new Map<string, Binding>();
  /** Opened tokens → their merchant, card and whether they still pay. */
  readonly #tokens = new Map<string, { mer_id: string; card_last4: string; active: boolean }>();
  #sequence = 0;

  constructor(options: UnionpaySandboxOptions, core: SandboxCore) {
    this.#core = core;
    this.#key = unionpayKey(options.verify_private_key_pem, 'private');
    this.#cert_id = options.verify_cert_id;
    for (const merchant of options.merchants) this.#merchants.set(merchant.mer_id, { ...merchant, sign_public_key: unionpayKey(merchant.sign_public_key_pem, 'public') });
  }

  reset(): void {
    this.#orders.clear();
    this.#refunds.clear();
    this.#bindings.clear();
    this.#tokens.clear();
  }

  // -------------------------------------------------------------------------------------------
  // File transfer (文件传输, txnType 76 / 01, bizType 000000, fileType 00): the 对账文件 of a
  // clearing date (settleDate MMDD), its archive deflated and Base64-encoded in fileContent of
  // the signed answer. The archive lists the day's consumes and refunds (China calendar day),
  // with the statement faults of FaultSpec.

  async handleFile(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const params: Record<string, string> = {};
    for (const [name, value] of new URLSearchParams(body.toString('utf8'))) params[name] = value;
    const context: FaultContext = { provider: 'unionpay', merchant: params.merId ?? '', out_trade_no: undefined, operation: 'statement' };
    const echo = pick(params, ['version', 'encoding', 'bizType', 'txnType', 'txnSubType', 'accessType', 'merId', 'txnTime', 'fileType', 'settleDate']);
    let answer: Record<string, string>;
    try {
      if (req.method !== 'POST') throw fail('10', '报文格式错误 method');
      const merchant = this.#merchants.get(params.merId ?? '');
      if (merchant === undefined) throw fail('31', '商户状态不正确');
      if (!unionpayVerify(params, merchant.sign_cert_id, merchant.sign_public_key)) throw fail('11', '验证签名失败');
      if (params.txnType !== '76' || params.txnSubType !== '01' || params.bizType !== '000000') throw fail('10', '报文格式错误 txnType/txnSubType/bizType');
      if (params.fileType !== '00' || !/^(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$/.test(params.settleDate ?? '')) throw fail('10', '报文格式错误 fileType/settleDate');
      const refusal = this.#core.refusal(context);
      if (refusal.fail_status !== undefined) {
        res.writeHead(refusal.fail_status, { 'Content-Type': 'text/html; charset=utf-8' });
        res.end('<html><body>502 Bad Gateway (injected fault)</body></html>');
        return;
      }
      if (refusal.reject !== undefined) throw fail(refusal.reject.code, refusal.reject.message);
      const date = clearingDate(params.settleDate!, new Date());
      const extra = this.#core.peek(context, (f) => (f.statement_extra_rows ?? 0) > 0)?.statement_extra_rows ?? 0;
      const rows = billRows(this.#ledger(merchant.mer_id), date, (entry) => this.#statementFault(merchant.mer_id, entry.out_trade_no), extra);
      const archive = unionpayFileArchive(rows, merchant.mer_id, date);
      answer = { ...echo, respCode: '00', respMsg: '成功[0000000]', fileName: `${merchant.mer_id}_${date.replace(/-/g, '')}.zip`, fileContent: deflateSync(archive).toString('base64') };
    } catch (error) {
      if (!(error instanceof UnionpayError)) throw error;
      answer = { ...echo, respCode: error.resp_code, respMsg: error.resp_msg };
    }
    if (this.#core.shut_down || res.destroyed) return;
    res.writeHead(200, { 'Content-Type': 'text/plain;charset=UTF-8' });
    res.end(formatResponse(unionpaySign(answer, this.#cert_id, this.#key)));
  }

  /** Every money movement of a merchant: each transaction of a paid order, each refund. */
  #ledger(mer_id: string): LedgerEntry[] {
    const entries: LedgerEntry[] = [];
    for (const order of this.#orders.values()) {
      if (order.mer_id !== mer_id || order.status !== 'SUCCESS') continue;
      for (const query_id of [order.query_id!, ...order.extra_query_ids]) {
        entries.push({
          merchant: mer_id, kind: 'payment', out_trade_no: order.order_id, trade_no: query_id, amount_fen: order.amount_fen, order_total_fen: order.amount_fen,
          at: order.paid_at!, created_at: order.created_at, subject: '', trade_type: 'TOKEN', payer: '6222********0000',
        });
      }
    }
    for (const refund of this.#refunds.values()) {
      if (refund.mer_id !== mer_id) continue;
      entries.push({
        merchant: mer_id, kind: 'refund', out_trade_no: refund.orig.order_id, trade_no: refund.orig_query_id, out_refund_no: refund.order_id, refund_no: refund.query_id,
        amount_fen: refund.amount_fen, order_total_fen: refund.orig.amount_fen, at: refund.at, created_at: refund.at, subject: '', trade_type: 'TOKEN', payer: '6222********0000',
      });
    }
    return entries;
  }

  #statementFault(mer_id: string, order_id: string): StatementFaultEffect {
    const context: FaultContext = { provider: 'unionpay', merchant: mer_id, out_trade_no: order_id, operation: 'statement' };
    return {
      missing: this.#core.peek(context, (f) => f.statement_missing === true) !== undefined,
      amount_delta_fen: BigInt(this.#core.peek(context, (f) => (f.statement_amount_delta_minor ?? 0) !== 0)?.statement_amount_delta_minor ?? 0),
      next_day: this.#core.peek(context, (f) => f.statement_next_day === true) !== undefined,
    };
  }

  // -------------------------------------------------------------------------------------------
  // Gateway

  async handle(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer): Promise<void> {
    if (req.method !== 'POST' || (url.pathname !== ENDPOINTS.back_trans && url.pathname !== ENDPOINTS.query)) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('not found');
      return;
    }
    const params: Record<string, string> = {};
    for (const [name, value] of new URLSearchParams(body.toString('utf8'))) params[name] = value;
    const is_query = url.pathname === ENDPOINTS.query;
    const context: FaultContext = { provider: 'unionpay', merchant: params.merId ?? '', out_trade_no: this.#faultOrderId(params, is_query), operation: this.#operation(params, is_query) };
    const echo = pick(params, ['version', 'encoding', 'bizType', 'txnType', 'txnSubType', 'accessType', 'merId', 'orderId', 'txnTime', 'txnAmt', 'currencyCode', 'reqReserved']);
    let answer: Record<string, string>;
    let latency_ms = 0;
    try {
      const merchant = this.#merchants.get(params.merId ?? '');
      if (merchant === undefined) throw fail('31', '商户状态不正确');
      if (!unionpayVerify(params, merchant.sign_cert_id, merchant.sign_public_key)) throw fail('11', '验证签名失败');
      if (params.version !== VERSION) throw fail('10', '报文格式错误 version');
      if (context.operation === undefined) throw fail('10', '报文格式错误 txnType');
      const refusal = this.#core.refusal(context);
      if (refusal.fail_status !== undefined) {
        if (this.#core.shut_down || res.destroyed) return;
        res.writeHead(refusal.fail_status, { 'Content-Type': 'text/html; charset=utf-8' });
        res.end('<html><body>502 Bad Gateway (injected fault)</body></html>');
        return;
      }
      if (refusal.reject !== undefined) throw fail(refusal.reject.code, refusal.reject.message);
      answer = { ...echo, ...this.#dispatch(merchant, params, is_query, context) };
      latency_ms = this.#core.latency(context);
    } catch (error) {
      if (!(error instanceof UnionpayError)) throw error;
      answer = { ...echo, respCode: error.resp_code, respMsg: error.resp_msg };
    }
    if (latency_ms > 0) await this.#core.sleep(latency_ms);
    if (this.#core.shut_down || res.destroyed) return;
    res.writeHead(200, { 'Content-Type': 'text/plain;charset=UTF-8' });
    res.end(formatResponse(unionpaySign(answer, this.#cert_id, this.#key)));
  }

  #operation(params: Record<string, string>, is_query: boolean): FaultOperation | undefined {
    if (is_query) return this.#refunds.has(orderKey(params.merId ?? '', params.orderId ?? '')) ? 'refund_query' : 'query';
    const { txnType, txnSubType } = params;
    if (txnType === TXN.sms.txnType && txnSubType === TXN.sms.txnSubType) return 'create';
    if (txnType === TXN.consume.txnType && txnSubType === TXN.consume.txnSubType) return 'confirm';
    if (txnType === TXN.refund.txnType && txnSubType === TXN.refund.txnSubType) return 'refund';
    if (txnType === TXN.open_sms.txnType && txnSubType === TXN.open_sms.txnSubType) return 'bind';
    if (txnType === TXN.open.txnType && txnSubType === TXN.open.txnSubType) return 'bind_confirm';
    if (txnType === TXN.delete_token.txnType && txnSubType === TXN.delete_token.txnSubType) return 'unbind';
    return undefined;
  }

  /** Faults are scoped by the payment's orderId, also for its refunds. */
  #faultOrderId(params: Record<string, string>, is_query: boolean): string | undefined {
    const refund = this.#refunds.get(orderKey(params.merId ?? '', params.orderId ?? ''));
    if (is_query && refund !== undefined) return refund.orig.order_id;
    if (!is_query && params.txnType === TXN.refund.txnType) return params.reqReserved ?? this.#byQueryId(params.merId ?? '', params.origQryId ?? '')?.order_id;
    return params.orderId;
  }

  #dispatch(merchant: SandboxUnionpayMerchant, params: Record<string, string>, is_query: boolean, context: FaultContext): Record<string, string> {
    if (is_query) return this.#query(merchant, params);
    switch (context.operation) {
      case 'create': return this.#sms(merchant, params);
      case 'confirm': return this.#consume(merchant, params, context);
      case 'bind': return this.#openSms(merchant, params);
      case 'bind_confirm': return this.#open(merchant, params);
      case 'unbind': return this.#deleteToken(merchant, params);
      default: return this.#refund(merchant, params);
    }
  }

  #sms(merchant: SandboxUnionpayMerchant, params: Record<string, string>): Record<string, string> {
    if (params.bizType !== BIZ_TYPE_TOKEN) throw fail('10', '报文格式错误 bizType');
    const { order_id, txn_time, amount_fen } = validateOrder(params);
    const token = tokenOf(params.tokenPayData, merchant.tr_id);
    // Tokens this sandbox opened pay only while active; others (issued elsewhere) are taken.
    if (this.#tokens.get(token)?.active === false) throw fail('89', 'Token状态无效');
    const key = orderKey(merchant.mer_id, order_id);
    let order = this.#orders.get(key);
    if (order !== undefined) {
      if (order.txn_time !== txn_time || order.amount_fen !== amount_fen || order.token !== token) throw fail('12', '重复交易');
      if (order.status !== 'SMS_SENT') throw fail('12', '重复交易');
      if (order.sms_sends >= sms_sends_max) throw fail('86', '短信发送次数超限');
      order.sms_sends += 1;
      order.sms_sent_at = new Date();
    } else {
      if (this.#orders.size >= orders_max) throw fail('06', `sandbox holds ${orders_max} orders; POST /sandbox/reset`);
      order = {
        mer_id: merchant.mer_id, order_id, txn_time, amount_fen, token, sms_code: String(randomInt(1_000_000)).padStart(6, '0'), sms_sends: 1,
        sms_sent_at: new Date(), phone_masked: maskedPhoneOf(token), status: 'SMS_SENT', resp_code: undefined, resp_msg: undefined,
        query_id: undefined, paid_at: undefined, back_url: undefined, req_reserved: undefined, refunded_fen: 0n, extra_query_ids: [],
        consume_requests: 0, wrong_codes: 0,
        created_at: new Date(),
      };
      this.#orders.set(key, order);
    }
    this.#core.log({ event: 'sms_sent', provider: 'unionpay', mer_id: merchant.mer_id, order_id });
    return { respCode: '00', respMsg: '成功[0000000]', customerInfo: Buffer.from(`{phoneNo=${order.phone_masked}}`, 'utf8').toString('base64') };
  }

  // 开通 (card binding) ----------------------------------------------------------------------

  #openSms(merchant: SandboxUnionpayMerchant, params: Record<string, string>): Record<string, string> {
    const { order_id, txn_time, card_no } = validateBinding(params, merchant.tr_id);
    const key = orderKey(merchant.mer_id, order_id);
    let binding = this.#bindings.get(key);
    if (binding !== undefined) {
      if (binding.txn_time !== txn_time || binding.card_no !== card_no || binding.status !== 'SMS_SENT') throw fail('12', '重复交易');
      if (binding.sms_sends >= sms_sends_max) throw fail('86', '短信发送次数超限');
      binding.sms_sends += 1;
    } else {
      if (this.#bindings.size >= orders_max) throw fail('06', `sandbox holds ${orders_max} bindings; POST /sandbox/reset`);
      binding = {
        mer_id: merchant.mer_id, order_id, txn_time, card_no, phone_masked: maskedPhoneOf(card_no), sms_code: String(randomInt(1_000_000)).padStart(6, '0'),
        sms_sends: 1, wrong_codes: 0, status: 'SMS_SENT', token: undefined,
      };
      this.#bindings.set(key, binding);
    }
    this.#core.log({ event: 'open_sms_sent', provider: 'unionpay', mer_id: merchant.mer_id, order_id });
    return { respCode: '00', respMsg: '成功[0000000]', customerInfo: Buffer.from(`{phoneNo=${binding.phone_masked}}`, 'utf8').toString('base64') };
  }

  #open(merchant: SandboxUnionpayMerchant, params: Record<string, string>): Record<string, string> {
    const { order_id, txn_time, card_no } = validateBinding(params, merchant.tr_id);
    const binding = this.#bindings.get(orderKey(merchant.mer_id, order_id));
    if (binding === undefined || binding.txn_time !== txn_time) throw fail('71', '短信验证码校验失败 (no SMS was sent for this opening)');
    if (binding.card_no !== card_no) throw fail('36', '与原交易信息不符');
    if (binding.status === 'FAILED') throw fail('01', '交易失败 (the opening failed: too many wrong codes)');
    if (binding.status === 'OPENED') {
      return { respCode: '00', respMsg: '成功[0000000]', tokenPayData: `{token=${binding.token}&trId=${merchant.tr_id}&tokenType=01}` };
    }
    if (parseCustomerInfo(params.customerInfo)?.smsCode !== binding.sms_code) {
      binding.wrong_codes += 1;
      if (binding.wrong_codes >= binding_wrong_codes_max) binding.status = 'FAILED';
      throw fail('71', '动态口令或短信验证码校验失败');
    }
    binding.status = 'OPENED';
    binding.token = `62${String(randomInt(1e9)).padStart(9, '0')}${String(randomInt(1e9)).padStart(9, '0')}`;
    this.#tokens.set(binding.token, { mer_id: merchant.mer_id, card_last4: card_no.slice(-4), active: true });
    this.#core.log({ event: 'card_opened', provider: 'unionpay', mer_id: merchant.mer_id, order_id });
    return { respCode: '00', respMsg: '成功[0000000]', tokenPayData: `{token=${binding.token}&trId=${merchant.tr_id}&tokenType=01}` };
  }

  #deleteToken(merchant: SandboxUnionpayMerchant, params: Record<string, string>): Record<string, string> {
    const token = tokenOf(params.tokenPayData, merchant.tr_id);
    const known = this.#tokens.get(token);
    if (known === undefined || known.mer_id !== merchant.mer_id) throw fail('89', '无此Token');
    known.active = false;
    return { respCode: '00', respMsg: '成功[0000000]' };
  }

  #consume(merchant: SandboxUnionpayMerchant, params: Record<string, string>, context: FaultContext): Record<string, string> {
    if (params.bizType !== BIZ_TYPE_TOKEN) throw fail('10', '报文格式错误 bizType');
    const { order_id, txn_time, amount_fen } = validateOrder(params, false);
    const token = tokenOf(params.tokenPayData, merchant.tr_id);
    const order = this.#orders.get(orderKey(merchant.mer_id, order_id));
    if (order === undefined || order.txn_time !== txn_time) throw fail('71', '短信验证码校验失败 (no SMS was sent for this order)');
    order.consume_requests += 1;
    if (order.status === 'SUCCESS') throw fail('12', '重复交易');
    if (order.status === 'FAILED') throw fail(order.resp_code ?? '01', order.resp_msg ?? '交易失败');
    if (order.amount_fen !== amount_fen || order.token !== token) throw fail('36', '与原交易信息不符');
    if (params.payTimeout !== undefined && (parseTxnTime(params.payTimeout)?.getTime() ?? 0) < Date.now()) return this.#settleFailed(order, '69', '您的输入超时，交易失败');
    const sms_code = parseCustomerInfo(params.customerInfo)?.smsCode;
    if (sms_code !== order.sms_code) {
      // The order waits for the right code; its 5th wrong one fails it.
      order.wrong_codes += 1;
      if (order.wrong_codes >= consume_wrong_codes_max) return this.#settleFailed(order, '71', '动态口令或短信验证码校验失败 (too many wrong codes)');
      throw fail('71', '动态口令或短信验证码校验失败');
    }
    order.back_url = params.backUrl || undefined;
    order.req_reserved = params.reqReserved || undefined;
    order.status = 'SUCCESS';
    order.resp_code = '00';
    order.resp_msg = '成功[0000000]';
    order.paid_at = new Date();
    order.query_id = this.#nextQueryId();
    // The payer paid twice: a second transaction UnionPay only lists in the 对账文件.
    if (this.#core.take(context, (fault) => fault.pay_twice === true) !== undefined) order.extra_query_ids.push(this.#nextQueryId());
    this.#core.log({ event: 'order_paid', provider: 'unionpay', mer_id: merchant.mer_id, order_id });
    this.#notifyPayment(order, { ...context, operation: undefined });
    return { respCode: '00', respMsg: '成功[0000000]', queryId: order.query_id };
  }

  #settleFailed(order: Order, code: string, message: string): never {
    order.status = 'FAILED';
    order.resp_code = code;
    order.resp_msg = message;
    this.#core.log({ event: 'order_failed', provider: 'unionpay', order_id: order.order_id, resp_code: code });
    throw fail(code, message);
  }

  #query(merchant: SandboxUnionpayMerchant, params: Record<string, string>): Record<string, string> {
    const key = orderKey(merchant.mer_id, params.orderId ?? '');
    const refund = this.#refunds.get(key);
    if (refund !== undefined) {
      if (refund.txn_time !== params.txnTime) throw fail('34', '查无此交易');
      return {
        respCode: '00', respMsg: '成功[0000000]', origRespCode: '00', origRespMsg: '成功[0000000]', txnType: TXN.refund.txnType, txnSubType: TXN.refund.txnSubType,
        queryId: refund.query_id, txnAmt: refund.amount_fen.toString(), traceTime: traceTimeOf(refund.at), origQryId: refund.orig.query_id!,
        ...(refund.req_reserved ? { reqReserved: refund.req_reserved } : {}),
      };
    }
    const order = this.#orders.get(key);
    // An order that only had its SMS is not a transaction UnionPay can find.
    if (order === undefined || order.txn_time !== params.txnTime || order.status === 'SMS_SENT') throw fail('34', '查无此交易');
    return {
      respCode: '00', respMsg: '成功[0000000]', origRespCode: order.resp_code!, origRespMsg: order.resp_msg!, txnType: TXN.consume.txnType, txnSubType: TXN.consume.txnSubType,
      txnAmt: order.amount_fen.toString(),
      ...(order.query_id ? { queryId: order.query_id, traceTime: traceTimeOf(order.paid_at!), settleDate: traceTimeOf(order.paid_at!).slice(0, 4) } : {}),
      ...(order.req_reserved ? { reqReserved: order.req_reserved } : {}),
    };
  }

  #refund(merchant: SandboxUnionpayMerchant, params: Record<string, string>): Record<string, string> {
    const { order_id, txn_time, amount_fen } = validateOrder(params);
    const existing = this.#refunds.get(orderKey(merchant.mer_id, order_id));
    if (existing !== undefined) throw fail('12', '重复交易');
    if (this.#orders.has(orderKey(merchant.mer_id, order_id))) throw fail('12', '重复交易');
    const orig = this.#byQueryId(merchant.mer_id, params.origQryId ?? '');
    if (orig === undefined || orig.status !== 'SUCCESS') throw fail('35', '原交易不存在或状态不正确');
    if (orig.refunded_fen + amount_fen > orig.amount_fen * BigInt(1 + orig.extra_query_ids.length)) throw fail('33', '交易金额超限');
    const refund: Refund = {
      mer_id: merchant.mer_id, order_id, txn_time, orig, orig_query_id: params.origQryId ?? '', amount_fen, query_id: this.#nextQueryId(), at: new Date(),
      back_url: params.backUrl || undefined, req_reserved: params.reqReserved || undefined,
    };
    orig.refunded_fen += amount_fen;
    this.#refunds.set(orderKey(merchant.mer_id, order_id), refund);
    this.#core.log({ event: 'refund_created', provider: 'unionpay', order_id: orig.order_id, refund_order_id: order_id });
    if (refund.back_url !== undefined) {
      const fields = {
        ...this.#baseNotification(merchant.mer_id, TXN.refund, order_id, txn_time, amount_fen, refund.query_id, refund.at, refund.req_reserved),
        origQryId: orig.query_id!,
      };
      this.#deliver(orig.order_id, 'refund', refund.back_url, fields, 0, 0, order_id);
    }
    return { respCode: '00', respMsg: '成功[0000000]', queryId: refund.query_id };
  }

  #byQueryId(mer_id: string, query_id: string): Order | undefined {
    if (query_id === '') return undefined;
    for (const order of this.#orders.values()) {
      if (order.mer_id === mer_id && (order.query_id === query_id || order.extra_query_ids.includes(query_id))) return order;
    }
    return undefined;
  }

  // Notifications -----------------------------------------------------------------------------

  #notifyPayment(order: Order, context: FaultContext): 'scheduled' | 'dropped' | 'none' {
    if (order.back_url === undefined) return 'none';
    const faults = this.#core.callbackFaults(context);
    if (faults.dropped) return 'dropped';
    const fields = this.#baseNotification(
      order.mer_id,
      TXN.consume,
      order.order_id,
      order.txn_time,
      order.amount_fen,
      order.query_id!,
      order.paid_at!,
      order.req_reserved,
    );
    this.#deliver(order.order_id, 'payment', order.back_url, fields, faults.duplicates, faults.delay_ms);
    return 'scheduled';
  }

  #baseNotification(
    mer_id: string, txn: { txnType: string; txnSubType: string }, order_id: string, txn_time: string, amount_fen: bigint, query_id: string, at: Date,
    req_reserved: string | undefined,
  ): Record<string, string> {
    return {
      version: VERSION, encoding: 'UTF-8', bizType: BIZ_TYPE_TOKEN, txnType: txn.txnType, txnSubType: txn.txnSubType, accessType: '0', merId: mer_id,
      orderId: order_id, txnTime: txn_time, txnAmt: amount_fen.toString(), currencyCode: '156', queryId: query_id, respCode: '00', respMsg: 'Success!',
      traceNo: query_id.slice(-6), traceTime: traceTimeOf(at), settleAmt: amount_fen.toString(), settleCurrencyCode: '156', settleDate: traceTimeOf(at).slice(0, 4),
      ...(req_reserved ? { reqReserved: req_reserved } : {}),
    };
  }

  #deliver(order_id: string, kind: 'payment' | 'refund', back_url: string, fields: Record<string, string>, duplicates: number, delay_ms: number, out_refund_no?: string): void {
    this.#core.deliver({
      provider: 'unionpay', event_id: `${fields.queryId}`, mchid: fields.merId!, out_trade_no: order_id, kind, notify_url: back_url,
      ...(out_refund_no ? { out_refund_no } : {}), duplicates, delay_ms,
      build: () => ({
        body: new URLSearchParams(unionpaySign(fields, this.#cert_id, this.#key)).toString(),
        headers: { 'Content-Type': 'application/x-www-form-urlencoded;charset=UTF-8', 'User-Agent': 'sandbox unionpay' },
      }),
      acknowledged: (status) => status === 200,
    });
  }

  // Control API -------------------------------------------------------------------------------

  control(method: string, path: string, url: URL, _body: unknown): Reply | undefined {
    const prefix = url.searchParams.get('out_trade_no_prefix') ?? '';
    if (method === 'GET' && path === '/sandbox/unionpay/sms') {
      const order_id = url.searchParams.get('order_id') ?? '';
      const matches = [...this.#orders.values()].filter((o) => o.order_id === order_id);
      if (matches.length === 0) throw new HttpError(404, 'NOT_FOUND', `no SMS was sent for order ${order_id}`);
      const order = matches[matches.length - 1]!;
      return {
        status: 200,
        body: {
          order_id,
          mer_id: order.mer_id,
          phone_no: order.phone_masked,
          sms_code: order.sms_code,
          sends: order.sms_sends,
          sent_at: order.sms_sent_at.toISOString(),
        },
      };
    }
    if (method === 'GET' && path === '/sandbox/unionpay/bindings') {
      const order_id = url.searchParams.get('order_id') ?? '';
      const binding = [...this.#bindings.values()].find((b) => b.order_id === order_id);
      if (binding === undefined) throw new HttpError(404, 'NOT_FOUND', `no opening ${order_id}`);
      return {
        status: 200,
        body: {
          order_id,
          mer_id: binding.mer_id,
          phone_no: binding.phone_masked,
          sms_code: binding.sms_code,
          sends: binding.sms_sends,
          wrong_codes: binding.wrong_codes,
          status: binding.status,
          token: binding.token ?? null,
          token_active: binding.token === undefined ? null : (this.#tokens.get(binding.token)?.active ?? null),
        },
      };
    }
    if (method === 'GET' && path === '/sandbox/unionpay/orders') {
      const orders = [...this.#orders.values()].filter((o) => o.order_id.startsWith(prefix)).map((o) => ({
        mer_id: o.mer_id, order_id: o.order_id, txn_time: o.txn_time, status: o.status, resp_code: o.resp_code ?? null, query_id: o.query_id ?? null,
        txn_amt: o.amount_fen.toString(), refunded_amt: o.refunded_fen.toString(), sms_sends: o.sms_sends, consume_requests: o.consume_requests,
        created_at: o.created_at.toISOString(),
      }));
      return { status: 200, body: { orders } };
    }
    if (method === 'GET' && path === '/sandbox/unionpay/refunds') {
      const refunds = [...this.#refunds.values()].filter((r) => r.orig.order_id.startsWith(prefix)).map((r) => ({
        mer_id: r.mer_id, order_id: r.order_id, orig_order_id: r.orig.order_id, orig_query_id: r.orig.query_id, query_id: r.query_id,
        txn_amt: r.amount_fen.toString(), at: r.at.toISOString(),
      }));
      return { status: 200, body: { refunds } };
    }
    return undefined;
  }

  #nextQueryId(): string {
    this.#sequence += 1;
    return `${txnTimeOf(new Date()).slice(2)}${String(this.#sequence % 1e6).padStart(6, '0')}${String(randomInt(1000)).padStart(3, '0')}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Pure helpers

function orderKey(mer_id: string, order_id: string): string {
  return `${mer_id}\u0000${order_id}`;
}

function pick(params: Record<string, string>, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) if (params[name] !== undefined) out[name] = params[name]!;
  return out;
}

function validateOrder(params: Record<string, string>, new_order = true): { order_id: string; txn_time: string; amount_fen: bigint } {
  const order_id = params.orderId ?? '';
  if (!order_id_pattern.test(order_id)) throw fail('10', '报文格式错误 orderId');
  const txn_time = params.txnTime ?? '';
  const sent_at = parseTxnTime(txn_time);
  if (sent_at === undefined) throw fail('10', '报文格式错误 txnTime');
  if (new_order && Math.abs(sent_at.getTime() - Date.now()) > txn_time_skew_ms_max) throw fail('10', '报文格式错误 txnTime 超出范围');
  const amount_fen = parseFen(params.txnAmt);
  if (amount_fen === undefined || amount_fen < 1n) throw fail('10', '报文格式错误 txnAmt');
  if (params.currencyCode !== '156') throw fail('10', '报文格式错误 currencyCode');
  return { order_id, txn_time, amount_fen };
}

/** An opening's order, trId and card number (12 to 19 digits). */
function validateBinding(params: Record<string, string>, tr_id: string): { order_id: string; txn_time: string; card_no: string } {
  if (params.bizType !== BIZ_TYPE_TOKEN) throw fail('10', '报文格式错误 bizType');
  const order_id = params.orderId ?? '';
  if (!order_id_pattern.test(order_id)) throw fail('10', '报文格式错误 orderId');
  const txn_time = params.txnTime ?? '';
  if (parseTxnTime(txn_time) === undefined) throw fail('10', '报文格式错误 txnTime');
  const card_no = params.accNo ?? '';
  if (!/^\d{12,19}$/.test(card_no)) throw fail('13', '报文交易要素缺失 accNo');
  const info = parseCustomerInfo(params.customerInfo);
  if (info === undefined || !info.certifId || !info.customerNm || !info.phoneNo) throw fail('13', '报文交易要素缺失 customerInfo');
  const token_data = params.tokenPayData ?? '';
  const fields = token_data.startsWith('{') && token_data.endsWith('}') ? parseResponse(token_data.slice(1, -1)) : undefined;
  if (fields?.trId !== tr_id) throw fail('40', '绑定关系检查失败');
  return { order_id, txn_time, card_no };
}

function tokenOf(token_pay_data: string | undefined, tr_id: string): string {
  const text = token_pay_data ?? '';
  const fields = text.startsWith('{') && text.endsWith('}') ? parseResponse(text.slice(1, -1)) : undefined;
  if (fields === undefined || fields.token === undefined || fields.token === '') throw fail('13', '报文交易要素缺失 tokenPayData');
  if (fields.trId !== tr_id) throw fail('40', '绑定关系检查失败');
  return fields.token;
}

/** A stable masked phone number per token, as UnionPay shows the cardholder's. */
function maskedPhoneOf(token: string): string {
  let hash = 0;
  for (const char of token) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return `138****${String(hash % 10_000).padStart(4, '0')}`;
}

/** MMDDhhmmss, China time. */
function traceTimeOf(date: Date): string {
  return txnTimeOf(date).slice(4);
}

/** The date (YYYY-MM-DD) a clearing date MMDD names: the one of that month and day nearest to now. */
function clearingDate(mmdd: string, now: Date): string {
  const year = now.getUTCFullYear();
  const candidates = [year - 1, year, year + 1].map((y) => `${y}-${mmdd.slice(0, 2)}-${mmdd.slice(2, 4)}`);
  const distance = (date: string) => Math.abs(Date.parse(`${date}T00:00:00+08:00`) - now.getTime());
  return candidates.reduce((best, date) => (distance(date) < distance(best) ? date : best));
}
