// The sandbox's generic bank gateway (channels/bankgw/README.md): the payer's page at
// `GET /gateway/pay?<signed fields>` (opening it creates the order, as a bank's cashier does),
// signed form calls `/gateway/query`, `/gateway/close`, `/gateway/refund`,
// `/gateway/refund/query` answered with signed JSON, the statement CSV (`/gateway/statement`,
// body signed in a header), and signed notifications that must be answered `SUCCESS`.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes, randomInt } from 'node:crypto';
import {
  BANKGW_ENDPOINTS as ENDPOINTS, BANKGW_STATEMENT_COLUMNS as STATEMENT_COLUMNS, BANKGW_STATEMENT_SIGN_HEADER as STATEMENT_SIGN_HEADER,
  bankgw_bank_code_pattern as bank_code_pattern, bankgw_order_no_pattern as order_no_pattern,
} from './protocol/wire';
import { compactChinaTime as txnTimeOf, csvField, formatYuan, parseCompactChinaTime as parseTxnTime, parseYuan } from './protocol/formats';
import { bankgwHmacHex, bankgwSign, bankgwVerify } from './protocol/bankgw';
import { HttpError, orders_max, stringField, type FaultContext, type FaultOperation, type Reply, type SandboxCore } from './core';
import { billRows, type BillRow, type LedgerEntry } from './statements';

export interface SandboxBankgwMerchant {
  merchant_no: string;
  hmac_key: string;
  bank_codes: string[];
}

export interface BankgwSandboxOptions {
  merchants: SandboxBankgwMerchant[];
}

/** Calls whose timestamp is further off than this are refused. */
const timestamp_skew_ms_max = 15 * 60 * 1000;
const ledger_max = 4_000_000;

type TradeStatus = 'WAIT_PAY' | 'SUCCESS' | 'FAILED' | 'CLOSED';

interface Order {
  merchant_no: string;
  order_no: string;
  bank_trade_no: string;
  fingerprint: string;
  product: string;
  bank_code: string;
  status: TradeStatus;
  amount_fen: bigint;
  subject: string;
  notify_url: string;
  expire_at: Date;
  created_at: Date;
  paid_at?: Date;
  refunds: Map<string, { bank_refund_no: string; amount_fen: bigint; at: Date }>;
  refunded_fen: bigint;
  open_requests: number;
}

type PayoutStatus = 'PROCESSING' | 'SUCCESS' | 'FAILED' | 'RETURNED';

interface Payout {
  merchant_no: string;
  payout_no: string;
  bank_payout_no: string;
  fingerprint: string;
  amount_fen: bigint;
  bank_code: string;
  status: PayoutStatus;
  /** What the next query turns a PROCESSING payout into; RETURNED: a SUCCESS payout. */
  next?: PayoutStatus;
  fail_code?: string;
  paid_at?: Date;
  created_at: Date;
  submissions: number;
}

class BankError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

const operations: Record<string, FaultOperation> = {
  [ENDPOINTS.pay]: 'create', [ENDPOINTS.query]: 'query', [ENDPOINTS.close]: 'close', [ENDPOINTS.refund]: 'refund',
  [ENDPOINTS.refund_query]: 'refund_query', [ENDPOINTS.statement]: 'statement',
  [ENDPOINTS.payout]: 'payout', [ENDPOINTS.payout_query]: 'payout_query',
};

export class BankgwSandbox {
  readonly #core: SandboxCore;
  readonly #merchants = new Map<string, SandboxBankgwMerchant>();
  readonly #orders = new Map<string, Order>();
  /** Orders closed before the payer opened them: a later open is refused. */
  readonly #closed_markers = new Set<string>();
  readonly #payouts = new Map<string, Payout>();
  #ledger: LedgerEntry[] = [];
  #sequence = 0;

  constructor(options: BankgwSandboxOptions, core: SandboxCore) {
    this.#core = core;
    for (const merchant of options.merchants) this.#merchants.set(merchant.merchant_no, merchant);
  }

  reset(): void {
    this.#orders.clear();
    this.#closed_markers.clear();
    this.#payouts.clear();
    this.#ledger = [];
  }

  // -------------------------------------------------------------------------------------------
  // Gateway

  async handle(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer): Promise<void> {
    const page = url.pathname === ENDPOINTS.pay && req.method === 'GET';
    const operation = operations[url.pathname];
    if (operation === undefined || (!page && req.method !== 'POST')) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('not found');
      return;
    }
    const fields: Record<string, string> = {};
    for (const [name, value] of page ? url.searchParams : new URLSearchParams(body.toString('utf8'))) fields[name] = value;
    const merchant = this.#merchants.get(fields.merchant_no ?? '');
    const context: FaultContext = { provider: 'bankgw', merchant: fields.merchant_no ?? '', out_trade_no: fields.order_no ?? fields.payout_no, operation };
    let answer: Record<string, string>;
    let statement: string | undefined;
    let latency_ms = 0;
    try {
      if (merchant === undefined) throw new BankError('MERCHANT_ERROR', 'unknown merchant_no');
      if (!bankgwVerify(fields, merchant.hmac_key)) throw new BankError('SIGN_ERROR', 'signature does not verify');
      if (!page) {
        const sent_at = parseTxnTime(fields.timestamp);
        if (sent_at === undefined || Math.abs(sent_at.getTime() - Date.now()) > timestamp_skew_ms_max) throw new BankError('PARAM_ERROR', 'timestamp missing or out of range');
      }
      const refusal = this.#core.refusal(context);
      if (refusal.fail_status !== undefined) {
        if (this.#core.shut_down || res.destroyed) return;
        res.writeHead(refusal.fail_status, { 'Content-Type': 'text/html; charset=utf-8' });
        res.end('<html><body>502 Bad Gateway (injected fault)</body></html>');
        return;
      }
      if (refusal.reject !== undefined) throw new BankError(refusal.reject.code, refusal.reject.message);
      if (operation === 'statement') statement = this.#statement(merchant, fields);
      answer = statement === undefined ? this.#dispatch(merchant, operation, fields) : {};
      latency_ms = this.#core.latency(context);
    } catch (error) {
      if (!(error instanceof BankError)) throw error;
      answer = { result_code: 'FAIL', error_code: error.code, error_message: error.message };
    }
    if (latency_ms > 0) await this.#core.sleep(latency_ms);
    if (this.#core.shut_down || res.destroyed) return;
    if (page) {
      res.writeHead(answer.result_code === 'SUCCESS' ? 200 : 400, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(payerPage(answer));
      return;
    }
    if (statement !== undefined) {
      res.writeHead(200, { 'Content-Type': 'text/csv; charset=utf-8', [STATEMENT_SIGN_HEADER]: bankgwHmacHex(statement, merchant!.hmac_key) });
      res.end(statement);
      return;
    }
    const full = { merchant_no: fields.merchant_no ?? '', ...(fields.order_no ? { order_no: fields.order_no } : {}), ...answer };
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(merchant === undefined ? full : bankgwSign(full, merchant.hmac_key)));
  }

  #dispatch(merchant: SandboxBankgwMerchant, operation: FaultOperation, fields: Record<string, string>): Record<string, string> {
    switch (operation) {
      case 'create': return this.#open(merchant, fields);
      case 'query': return tradeFields(this.#find(merchant, fields.order_no));
      case 'close': return this.#close(merchant, fields);
      case 'refund': return this.#refund(merchant, fields);
      case 'payout': return this.#payout(merchant, fields);
      case 'payout_query': return this.#payoutQuery(merchant, fields);
      default: return this.#refundQuery(merchant, fields);
    }
  }

  #open(merchant: SandboxBankgwMerchant, fields: Record<string, string>): Record<string, string> {
    const order_no = fields.order_no ?? '';
    if (!order_no_pattern.test(order_no)) throw new BankError('PARAM_ERROR', 'order_no');
    const amount_fen = parseYuan(fields.amount);
    if (amount_fen === undefined || amount_fen < 1n) throw new BankError('PARAM_ERROR', 'amount');
    if (fields.product !== 'B2C' && fields.product !== 'B2B') throw new BankError('PARAM_ERROR', 'product');
    const bank_code = fields.bank_code ?? '';
    if (!bank_code_pattern.test(bank_code) || !merchant.bank_codes.includes(bank_code)) throw new BankError('PARAM_ERROR', 'bank_code not served');
    const expire_at = parseTxnTime(fields.expire_time);
    if (expire_at === undefined) throw new BankError('PARAM_ERROR', 'expire_time');
    if (!fields.notify_url) throw new BankError('PARAM_ERROR', 'notify_url');
    const key = orderKey(merchant.merchant_no, order_no);
    const fingerprint = [amount_fen, fields.product, bank_code, fields.subject ?? ''].join('|');
    const existing = this.#orders.get(key);
    if (existing !== undefined) {
      existing.open_requests += 1;
      if (existing.fingerprint !== fingerprint) throw new BankError('ORDER_CONFLICT', 'order_no reused with other fields');
      if (existing.status !== 'WAIT_PAY') throw new BankError(existing.status === 'SUCCESS' ? 'ORDER_PAID' : 'ORDER_CLOSED', `order is ${existing.status}`);
      return { result_code: 'SUCCESS', ...tradeFields(existing) };
    }
    if (this.#closed_markers.has(key)) throw new BankError('ORDER_CLOSED', 'order was closed');
    if (expire_at.getTime() < Date.now()) throw new BankError('ORDER_EXPIRED', 'order expired');
    if (this.#orders.size >= orders_max) throw new BankError('SYSTEM_ERROR', `sandbox holds ${orders_max} orders; POST /sandbox/reset`);
    const order: Order = {
      merchant_no: merchant.merchant_no, order_no, bank_trade_no: this.#nextTradeNo(), fingerprint, product: fields.product, bank_code, status: 'WAIT_PAY',
      amount_fen, subject: fields.subject ?? '', notify_url: fields.notify_url, expire_at, created_at: new Date(), refunds: new Map(), refunded_fen: 0n, open_requests: 1,
    };
    this.#orders.set(key, order);
    this.#core.log({ event: 'order_created', provider: 'bankgw', merchant_no: merchant.merchant_no, order_no });
    return { result_code: 'SUCCESS', ...tradeFields(order) };
  }

  #find(merchant: SandboxBankgwMerchant, order_no: string | undefined): Order {
    const order = this.#orders.get(orderKey(merchant.merchant_no, order_no ?? ''));
    if (order === undefined) throw new BankError('ORDER_NOT_EXIST', 'no such order');
    return order;
  }

  #close(merchant: SandboxBankgwMerchant, fields: Record<string, string>): Record<string, string> {
    const key = orderKey(merchant.merchant_no, fields.order_no ?? '');
    const order = this.#orders.get(key);
    if (order === undefined) {
      this.#closed_markers.add(key);
      return { result_code: 'SUCCESS' };
    }
    if (order.status === 'SUCCESS') throw new BankError('ORDER_PAID', 'order is paid');
    if (order.status !== 'WAIT_PAY') throw new BankError('ORDER_CLOSED', `order is ${order.status}`);
    order.status = 'CLOSED';
    this.#core.log({ event: 'order_closed', provider: 'bankgw', order_no: order.order_no });
    return { result_code: 'SUCCESS' };
  }

  #refund(merchant: SandboxBankgwMerchant, fields: Record<string, string>): Record<string, string> {
    const order = this.#find(merchant, fields.order_no);
    const refund_no = fields.refund_no ?? '';
    if (!order_no_pattern.test(refund_no)) throw new BankError('PARAM_ERROR', 'refund_no');
    const amount_fen = parseYuan(fields.refund_amount);
    if (amount_fen === undefined || amount_fen < 1n) throw new BankError('PARAM_ERROR', 'refund_amount');
    const existing = order.refunds.get(refund_no);
    if (existing !== undefined) {
      if (existing.amount_fen !== amount_fen) throw new BankError('REFUND_NO_CONFLICT', 'refund_no reused with another amount');
      return refundFields(refund_no, existing);
    }
    if (order.status !== 'SUCCESS' || order.paid_at === undefined) throw new BankError('ORDER_NOT_PAID', 'order is not paid');
    if (order.refunded_fen + amount_fen > order.amount_fen) throw new BankError('REFUND_AMOUNT_EXCEEDED', 'refund over what is left');
    const refund = { bank_refund_no: this.#nextTradeNo(), amount_fen, at: new Date() };
    order.refunds.set(refund_no, refund);
    order.refunded_fen += amount_fen;
    this.#addLedger({ ...this.#entry(order, order.bank_trade_no, refund.at), kind: 'refund', out_refund_no: refund_no, refund_no: refund.bank_refund_no, amount_fen });
    this.#core.log({ event: 'refund_created', provider: 'bankgw', order_no: order.order_no, refund_no });
    return refundFields(refund_no, refund);
  }

  #refundQuery(merchant: SandboxBankgwMerchant, fields: Record<string, string>): Record<string, string> {
    const order = this.#find(merchant, fields.order_no);
    const refund_no = fields.refund_no ?? '';
    const refund = order.refunds.get(refund_no);
    if (refund === undefined) throw new BankError('REFUND_NOT_EXIST', 'no such refund');
    return refundFields(refund_no, refund);
  }

  // Payouts ------------------------------------------------------------------------------------

  /** A payout: answered at once (SUCCESS) unless a fault holds it PROCESSING until the next
   * query. The same payout_no again answers the same payout (another amount or account:
   * PAYOUT_NO_CONFLICT), so a repeat never pays twice. */
  #payout(merchant: SandboxBankgwMerchant, fields: Record<string, string>): Record<string, string> {
    const payout_no = fields.payout_no ?? '';
    if (!/^[0-9A-Za-z]{6,32}$/.test(payout_no)) throw new BankError('PARAM_ERROR', 'payout_no');
    const amount_fen = parseYuan(fields.amount);
    if (amount_fen === undefined || amount_fen < 1n) throw new BankError('PARAM_ERROR', 'amount');
    if (fields.currency !== 'CNY') throw new BankError('PARAM_ERROR', 'currency');
    const bank_code = fields.bank_code ?? '';
    if (!bank_code_pattern.test(bank_code)) throw new BankError('PARAM_ERROR', 'bank_code');
    if (!/^[0-9]{8,32}$/.test(fields.account_no ?? '')) throw new BankError('ACCOUNT_INVALID', 'account_no must be 8-32 digits');
    if (!fields.account_name) throw new BankError('ACCOUNT_INVALID', 'account_name');
    const key = orderKey(merchant.merchant_no, payout_no);
    const fingerprint = [amount_fen, bank_code, fields.account_no, fields.account_name].join('|');
    const existing = this.#payouts.get(key);
    if (existing !== undefined) {
      existing.submissions += 1;
      if (existing.fingerprint !== fingerprint) throw new BankError('PAYOUT_NO_CONFLICT', 'payout_no reused with other fields');
      return payoutFields(existing);
    }
    if (this.#payouts.size >= orders_max) throw new BankError('SYSTEM_ERROR', `sandbox holds ${orders_max} payouts; POST /sandbox/reset`);
    const context: FaultContext = { provider: 'bankgw', merchant: merchant.merchant_no, out_trade_no: payout_no };
    const late_failure = this.#core.take(context, (f) => f.payout_late_failure === true) !== undefined;
    const processing = late_failure || this.#core.take(context, (f) => f.payout_processing === true) !== undefined;
    const returned = !processing && this.#core.take(context, (f) => f.payout_return === true) !== undefined;
    const payout: Payout = {
      merchant_no: merchant.merchant_no, payout_no, bank_payout_no: this.#nextTradeNo(), fingerprint, amount_fen, bank_code,
      status: processing ? 'PROCESSING' : 'SUCCESS', next: late_failure ? 'FAILED' : processing ? 'SUCCESS' : returned ? 'RETURNED' : undefined,
      created_at: new Date(), submissions: 1,
    };
    if (payout.status === 'SUCCESS') payout.paid_at = new Date();
    this.#payouts.set(key, payout);
    this.#core.log({ event: 'payout_created', provider: 'bankgw', merchant_no: merchant.merchant_no, payout_no });
    return payoutFields(payout);
  }

  #payoutQuery(merchant: SandboxBankgwMerchant, fields: Record<string, string>): Record<string, string> {
    const payout = this.#payouts.get(orderKey(merchant.merchant_no, fields.payout_no ?? ''));
    if (payout === undefined) throw new BankError('PAYOUT_NOT_EXIST', 'no such payout');
    if (payout.next !== undefined) {
      this.#settlePayout(payout, payout.next);
      payout.next = undefined;
    }
    return payoutFields(payout);
  }

  #settlePayout(payout: Payout, status: PayoutStatus): void {
    payout.status = status;
    if (status === 'SUCCESS') payout.paid_at = new Date();
    if (status === 'FAILED') payout.fail_code = 'ACCOUNT_FROZEN';
    if (status === 'RETURNED') payout.fail_code = 'ACCOUNT_CLOSED';
    this.#core.log({ event: `payout_${status.toLowerCase()}`, provider: 'bankgw', payout_no: payout.payout_no });
  }

  #statement(merchant: SandboxBankgwMerchant, fields: Record<string, string>): string {
    const compact = fields.bill_date ?? '';
    if (!/^\d{8}$/.test(compact)) throw new BankError('PARAM_ERROR', 'bill_date must be YYYYMMDD');
    const date = `${compact.slice(0, 4)}-${compact.slice(4, 6)}-${compact.slice(6, 8)}`;
    const context: FaultContext = { provider: 'bankgw', merchant: merchant.merchant_no, out_trade_no: undefined };
    const extra = this.#core.peek(context, (f) => (f.statement_extra_rows ?? 0) > 0)?.statement_extra_rows ?? 0;
    const rows = billRows(
      this.#ledger.filter((entry) => entry.merchant === merchant.merchant_no),
      date,
      (entry) => this.#statementFault(merchant.merchant_no, entry.out_trade_no),
      extra,
    );
    return statementCsv(rows);
  }

  #statementFault(merchant_no: string, order_no: string) {
    const context: FaultContext = { provider: 'bankgw', merchant: merchant_no, out_trade_no: order_no, operation: 'statement' };
    return {
      missing: this.#core.peek(context, (f) => f.statement_missing === true) !== undefined,
      amount_delta_fen: BigInt(this.#core.peek(context, (f) => (f.statement_amount_delta_minor ?? 0) !== 0)?.statement_amount_delta_minor ?? 0),
      next_day: this.#core.peek(context, (f) => f.statement_next_day === true) !== undefined,
    };
  }

  // Paying and notifying ----------------------------------------------------------------------

  #markPaid(order: Order, context: FaultContext, result: 'SUCCESS' | 'FAILED'): 'scheduled' | 'dropped' {
    order.status = result;
    if (result === 'SUCCESS') {
      order.paid_at = new Date();
      this.#addLedger(this.#entry(order, order.bank_trade_no, order.paid_at));
    }
    this.#core.log({ event: result === 'SUCCESS' ? 'order_paid' : 'order_failed', provider: 'bankgw', order_no: order.order_no });
    const twice = result === 'SUCCESS' && this.#core.take(context, (fault) => fault.pay_twice === true) !== undefined;
    const second = twice ? this.#nextTradeNo() : undefined;
    if (second !== undefined) this.#addLedger(this.#entry(order, second, order.paid_at!));
    const faults = this.#core.callbackFaults(context);
    if (faults.dropped) return 'dropped';
    this.#notify(order, tradeFields(order), faults.duplicates, faults.delay_ms);
    if (second !== undefined) this.#notify(order, { ...tradeFields(order), bank_trade_no: second }, 0, faults.delay_ms);
    return 'scheduled';
  }

  #notify(order: Order, trade: Record<string, string>, duplicates: number, delay_ms: number): void {
    const merchant = this.#merchants.get(order.merchant_no)!;
    const notify_id = randomBytes(16).toString('hex');
    this.#core.deliver({
      provider: 'bankgw', event_id: notify_id, mchid: order.merchant_no, out_trade_no: order.order_no, kind: 'payment', notify_url: order.notify_url,
      duplicates, delay_ms,
      build: () => {
        const signed = bankgwSign({ notify_id, notify_time: txnTimeOf(new Date()), merchant_no: order.merchant_no, ...trade }, merchant.hmac_key);
        return { body: new URLSearchParams(signed).toString(), headers: { 'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8', 'User-Agent': 'sandbox bankgw' } };
      },
      acknowledged: (status, answer) => status === 200 && answer.trim() === 'SUCCESS',
    });
  }

  #entry(order: Order, trade_no: string, at: Date): LedgerEntry {
    return {
      merchant: order.merchant_no, kind: 'payment', out_trade_no: order.order_no, trade_no, amount_fen: order.amount_fen, order_total_fen: order.amount_fen,
      at, created_at: order.created_at, subject: order.subject, trade_type: `${order.product}:${order.bank_code}`, payer: order.bank_code,
    };
  }

  #addLedger(entry: LedgerEntry): void {
    this.#ledger.push(entry);
    if (this.#ledger.length > ledger_max) this.#ledger.splice(0, this.#ledger.length - ledger_max);
  }

  // Control API -------------------------------------------------------------------------------

  control(method: string, path: string, url: URL, body: unknown): Reply | undefined {
    const prefix = url.searchParams.get('out_trade_no_prefix') ?? '';
    if (method === 'GET' && path === '/sandbox/bankgw/orders') {
      const orders = [...this.#orders.values()].filter((o) => o.order_no.startsWith(prefix)).map((o) => ({
        merchant_no: o.merchant_no, order_no: o.order_no, bank_trade_no: o.bank_trade_no, product: o.product, bank_code: o.bank_code, trade_status: o.status,
        amount: formatYuan(o.amount_fen), refunded_amount: formatYuan(o.refunded_fen), open_requests: o.open_requests, created_at: o.created_at.toISOString(),
      }));
      return { status: 200, body: { orders } };
    }
    if (method === 'GET' && path === '/sandbox/bankgw/refunds') {
      const refunds = [...this.#orders.values()].filter((o) => o.order_no.startsWith(prefix)).flatMap((o) =>
        [...o.refunds.entries()].map(([refund_no, r]) => ({
          merchant_no: o.merchant_no, order_no: o.order_no, refund_no, bank_refund_no: r.bank_refund_no, refund_amount: formatYuan(r.amount_fen),
          refund_time: txnTimeOf(r.at),
        })));
      return { status: 200, body: { refunds } };
    }
    if (method === 'GET' && path === '/sandbox/bankgw/payouts') {
      const payouts = [...this.#payouts.values()].filter((p) => p.payout_no.startsWith(prefix)).map((p) => ({
        merchant_no: p.merchant_no, payout_no: p.payout_no, bank_payout_no: p.bank_payout_no, payout_status: p.status, amount: formatYuan(p.amount_fen),
        bank_code: p.bank_code, submissions: p.submissions, created_at: p.created_at.toISOString(),
      }));
      return { status: 200, body: { payouts } };
    }
    const returned = /^\/sandbox\/bankgw\/payouts\/([^/]+)\/return$/.exec(path);
    if (method === 'POST' && returned !== null) return this.#controlReturn(decodeURIComponent(returned[1]!));
    const pay = /^\/sandbox\/bankgw\/orders\/([^/]+)\/pay$/.exec(path);
    if (method === 'POST' && pay !== null) {
      const result = stringField(body, 'result') ?? 'SUCCESS';
      if (result !== 'SUCCESS' && result !== 'FAILED') throw new HttpError(400, 'PARAM_ERROR', "result must be 'SUCCESS' or 'FAILED'");
      return this.#controlPay(decodeURIComponent(pay[1]!), stringField(body, 'merchant_no'), result);
    }
    return undefined;
  }

  #controlPay(order_no: string, merchant_no: string | undefined, result: 'SUCCESS' | 'FAILED'): Reply {
    const candidates = [...this.#orders.values()].filter((o) => o.order_no === order_no && (merchant_no === undefined || o.merchant_no === merchant_no));
    if (candidates.length === 0) throw new HttpError(404, 'NOT_FOUND', `no order ${order_no} (it exists once the payer opens the redirect)`);
    if (candidates.length > 1) throw new HttpError(409, 'AMBIGUOUS', `several merchants have ${order_no}; pass {merchant_no}`);
    const order = candidates[0]!;
    const context: FaultContext = { provider: 'bankgw', merchant: order.merchant_no, out_trade_no: order_no };
    if (order.status === 'SUCCESS' || order.status === 'FAILED') {
      return { status: 200, body: { order_no, bank_trade_no: order.bank_trade_no, trade_status: order.status, already_settled: true } };
    }
    if (order.status === 'CLOSED' && this.#core.take(context, (fault) => fault.success_after_close === true) === undefined) {
      throw new HttpError(409, 'ORDER_CLOSED', `order ${order_no} is CLOSED`);
    }
    const callback = this.#markPaid(order, context, result);
    return { status: 200, body: { order_no, bank_trade_no: order.bank_trade_no, trade_status: order.status, callback } };
  }

  /** The receiving bank sends a paid payout back: its next query answers RETURNED. */
  #controlReturn(payout_no: string): Reply {
    const payout = [...this.#payouts.values()].find((p) => p.payout_no === payout_no);
    if (payout === undefined) throw new HttpError(404, 'NOT_FOUND', `no payout ${payout_no}`);
    if (payout.status !== 'SUCCESS') throw new HttpError(409, 'PAYOUT_NOT_PAID', `payout ${payout_no} is ${payout.status}`);
    this.#settlePayout(payout, 'RETURNED');
    return { status: 200, body: { payout_no, payout_status: payout.status } };
  }

  #nextTradeNo(): string {
    this.#sequence += 1;
    return `BK${txnTimeOf(new Date())}${String(this.#sequence % 1e6).padStart(6, '0')}${String(randomInt(1000)).padStart(3, '0')}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Pure helpers

function orderKey(merchant_no: string, order_no: string): string {
  return `${merchant_no}\u0000${order_no}`;
}

function tradeFields(order: Order): Record<string, string> {
  return {
    result_code: 'SUCCESS', order_no: order.order_no, trade_status: order.status, bank_trade_no: order.bank_trade_no, amount: formatYuan(order.amount_fen),
    currency: 'CNY', bank_code: order.bank_code, product: order.product,
    ...(order.paid_at ? { paid_time: txnTimeOf(order.paid_at) } : {}),
    ...(order.status === 'FAILED' ? { fail_code: 'PAYER_CANCELLED' } : {}),
  };
}

function payoutFields(payout: Payout): Record<string, string> {
  return {
    result_code: 'SUCCESS', payout_no: payout.payout_no, payout_status: payout.status, bank_payout_no: payout.bank_payout_no, amount: formatYuan(payout.amount_fen),
    currency: 'CNY', ...(payout.paid_at ? { paid_time: txnTimeOf(payout.paid_at) } : {}), ...(payout.fail_code ? { fail_code: payout.fail_code } : {}),
  };
}

function refundFields(refund_no: string, refund: { bank_refund_no: string; amount_fen: bigint; at: Date }): Record<string, string> {
  return {
    result_code: 'SUCCESS', refund_no, refund_status: 'SUCCESS', bank_refund_no: refund.bank_refund_no, refund_amount: formatYuan(refund.amount_fen),
    refund_time: txnTimeOf(refund.at),
  };
}

/** The documented statement CSV: header, one line per row, a `#total` trailer. */
export function statementCsv(rows: readonly BillRow[]): string {
  const lines = [STATEMENT_COLUMNS.join(',')];
  let total = 0n;
  for (const row of rows) {
    const refund = row.kind === 'refund';
    total += refund ? -row.amount_fen : row.amount_fen;
    const [product, bank_code] = row.trade_type.includes(':') ? row.trade_type.split(':') : ['B2C', row.payer];
    lines.push([
      txnTimeOf(row.at), refund ? 'REFUND' : 'PAY', row.out_trade_no, row.trade_no, refund ? row.out_refund_no ?? '' : '', refund ? row.refund_no ?? '' : '',
      formatYuan(row.amount_fen < 0n ? -row.amount_fen : row.amount_fen), formatYuan(refund ? -row.fee_fen : row.fee_fen), 'CNY', bank_code ?? '', product ?? '',
    ].map(csvField).join(','));
  }
  lines.push(`#total,${rows.length},${formatYuan(total)}`);
  return `${lines.join('\r\n')}\r\n`;
}

/** The payer's bank page: what the sandbox shows on an order it has just opened. */
function payerPage(answer: Record<string, string>): string {
  const escape = (value: unknown) => String(value ?? '').replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  if (answer.result_code !== 'SUCCESS') {
    return `<!doctype html><html><body><h1>bank gateway sandbox</h1><p>${escape(answer.error_code)}: ${escape(answer.error_message)}</p></body></html>`;
  }
  return '<!doctype html><html><head><meta charset="utf-8"><title>bank gateway sandbox</title></head><body>'
    + `<h1>${escape(answer.bank_code)} ${escape(answer.product)} sandbox</h1><p>order_no: <b id="order_no">${escape(answer.order_no)}</b></p>`
    + `<p>amount: ${escape(answer.amount)} CNY</p><p>Pay it: POST /sandbox/bankgw/orders/${escape(answer.order_no)}/pay</p></body></html>`;
}
