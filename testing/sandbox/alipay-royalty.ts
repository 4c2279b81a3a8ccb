// The sandbox's Alipay 交易分账 (trade royalty), served on the same gateway (`/gateway.do`, RSA2,
// `alipay_*_response` envelopes) as every Alipay call: receivers bound to the app
// (alipay.trade.royalty.relation.bind), settles on a paid trade created with
// extend_params.royalty_freeze (alipay.trade.order.settle, deduplicated by out_request_no: the
// same number again is the same settle, its settle_no answered again), their query
// (alipay.trade.order.settle.query, by settle_no or out_request_no + trade_no), and the shares a
// refund takes back inside itself (alipay.trade.refund refund_royalty_parameters, checked here
// for alipay.ts). It keeps what settles leave of the trade: a settle must fit in paid − refunded
// − (settled − returned), and a refund must fit in that plus the shares it takes back.
// extend_params.royalty_finish "true" ends the trade's royalty: once that settle is processed,
// what is left unsettled is unfrozen to the merchant (`unfrozen` in the control view) and
// Alipay takes no later settle of the trade. Written from Alipay's documentation, not from the
// adapter.

import { chinaDateTime, formatYuan, parseYuan } from './protocol/formats';
import { stringField, type Reply, type SandboxCore } from './core';

/** What the sandbox knows of a trade (owned by AlipaySandbox). */
export interface RoyaltyTrade {
  app_id: string;
  seller_id: string;
  out_trade_no: string;
  trade_no: string;
  paid: boolean;
  royalty_freeze: boolean;
  total_fen: bigint;
  refunded_fen: bigint;
}

/** A refusal in Alipay's terms: code 40004 (business) or 40002 (invalid arguments) and a sub_code. */
export class RoyaltyRefusal extends Error {
  constructor(readonly sub_code: string, readonly sub_msg: string, readonly code: '40004' | '40002' = '40004') {
    super(sub_msg);
  }
}

interface RoyaltyDetail {
  trans_in_type: string;
  trans_in: string;
  amount_fen: bigint;
  desc: string;
  state: 'PROCESSING' | 'SUCCESS' | 'FAIL';
  detail_id: string;
  execute_dt?: string;
  returned_fen: bigint;
}

interface Settle {
  app_id: string;
  trade_no: string;
  out_trade_no: string;
  out_request_no: string;
  settle_no: string;
  operation_dt: string;
  details: RoyaltyDetail[];
  finishes: boolean;
  /** Fen unfrozen to the merchant once processed (finishes only). */
  unfrozen_fen?: bigint;
  processed: boolean;
  fingerprint: string;
  requests: number;
}

/** One share a refund takes back (退分账). */
export interface RefundRoyalty {
  trans_out: string;
  amount_fen: bigint;
}

const no_pattern = /^[0-9A-Za-z_]{1,64}$/;
const receiver_types = new Set(['userId', 'loginName', 'openId']);
/** Settles and bindings kept (bounded like everything the sandbox keeps). */
const kept_max = 200_000;

export class AlipayRoyalty {
  readonly #bound = new Set<string>();
  readonly #settles = new Map<string, Settle>();
  #sequence = 0;

  constructor(
    private readonly core: SandboxCore,
    /** The trade of a trade_no of this app. */
    private readonly tradeOf: (app_id: string, trade_no: string) => RoyaltyTrade | undefined,
    private readonly settle_ms: number,
  ) {}

  reset(): void {
    this.#bound.clear();
    this.#settles.clear();
  }

  /** The out_trade_no a royalty call concerns (for fault scopes), when it names one. */
  outTradeNo(app_id: string, biz: Record<string, unknown>): string | undefined {
    const trade_no = stringField(biz, 'trade_no');
    if (trade_no !== undefined) return this.tradeOf(app_id, trade_no)?.out_trade_no;
    const settle_no = stringField(biz, 'settle_no');
    return settle_no === undefined ? undefined : [...this.#settles.values()].find((s) => s.app_id === app_id && s.settle_no === settle_no)?.out_trade_no;
  }

  /** What is settled of a trade and not returned (fen): the merchant no longer holds it. */
  outstanding(app_id: string, trade_no: string): bigint {
    let sum = 0n;
    for (const settle of this.#settles.values()) {
      if (settle.app_id !== app_id || settle.trade_no !== trade_no) continue;
      for (const d of settle.details) if (d.state !== 'FAIL') sum += d.amount_fen - d.returned_fen;
    }
    return sum;
  }

  /** alipay.trade.royalty.relation.bind: each receiver bound to the app (again: no change). */
  bind(app_id: string, biz: Record<string, unknown>): Record<string, unknown> {
    const out_request_no = stringField(biz, 'out_request_no');
    if (out_request_no === undefined || !no_pattern.test(out_request_no)) throw new RoyaltyRefusal('isv.invalid-parameter', 'out_request_no参数错误', '40002');
    const list = biz.receiver_list;
    if (!Array.isArray(list) || list.length === 0 || list.length > 20) throw new RoyaltyRefusal('isv.invalid-parameter', 'receiver_list必须是1到20个分账接收方', '40002');
    const receivers = list.map((item: unknown, i) => {
      const type = stringField(item, 'type');
      const account = stringField(item, 'account');
      if (type === undefined || !receiver_types.has(type)) throw new RoyaltyRefusal('isv.invalid-parameter', `receiver_list[${i}].type必须是userId、loginName或openId`, '40002');
      if (account === undefined || account === '' || account.length > 100) throw new RoyaltyRefusal('isv.invalid-parameter', `receiver_list[${i}].account参数错误`, '40002');
      if (type === 'userId' && !/^2088\d{12}$/.test(account)) throw new RoyaltyRefusal('ACQ.INVALID_PARAMETER', `receiver_list[${i}].account不是合法的支付宝用户号`);
      return { type, account };
    });
    if (this.#bound.size >= kept_max) throw new RoyaltyRefusal('isp.unknow-error', 'sandbox: too many bindings kept (POST /sandbox/reset)', '40004');
    for (const r of receivers) this.#bound.add(key(app_id, `${r.type}/${r.account}`));
    this.core.log({ event: 'royalty_relation_bound', provider: 'alipay', app_id, receivers: receivers.length });
    return { code: '10000', msg: 'Success', result_code: 'SUCCESS' };
  }

  /** alipay.trade.order.settle: a settle of royalty_parameters (none: an unfreeze, with royalty_finish). */
  settle(app_id: string, biz: Record<string, unknown>): Record<string, unknown> {
    const out_request_no = stringField(biz, 'out_request_no');
    const trade_no = stringField(biz, 'trade_no');
    if (out_request_no === undefined || !no_pattern.test(out_request_no)) throw new RoyaltyRefusal('ACQ.INVALID_PARAMETER', '参数无效:结算请求号不能为空或格式错误');
    if (trade_no === undefined) throw new RoyaltyRefusal('ACQ.INVALID_PARAMETER', '参数无效:支付宝交易号不能为空');
    const extend = biz.extend_params;
    const finish_text = typeof extend === 'object' && extend !== null ? (extend as Record<string, unknown>).royalty_finish : undefined;
    if (finish_text !== undefined && finish_text !== 'true' && finish_text !== 'false' && typeof finish_text !== 'boolean') {
      throw new RoyaltyRefusal('ACQ.INVALID_PARAMETER', 'extend_params.royalty_finish必须是true或false');
    }
    const finishes = finish_text === 'true' || finish_text === true;
    const mode = stringField(biz, 'royalty_mode') ?? 'sync';
    if (mode !== 'sync' && mode !== 'async') throw new RoyaltyRefusal('ACQ.INVALID_PARAMETER', 'royalty_mode必须是sync或async');
    const params = parseRoyaltyParameters(biz.royalty_parameters, finishes);
    const fingerprint = JSON.stringify({ trade_no, finishes, params: params.map((p) => [p.trans_in_type, p.trans_in, String(p.amount_fen)]) });
    const existing = this.#settles.get(key(app_id, out_request_no));
    if (existing !== undefined) {
      // The same out_request_no again is the same settle, answered as it stands.
      if (existing.fingerprint !== fingerprint) throw new RoyaltyRefusal('ACQ.DISCORDANT_REPEAT_REQUEST', '结算请求号重复,请求参数与原请求不一致');
      existing.requests += 1;
      return { code: '10000', msg: 'Success', trade_no: existing.trade_no, settle_no: existing.settle_no };
    }
    const trade = this.tradeOf(app_id, trade_no);
    if (trade === undefined) throw new RoyaltyRefusal('ACQ.TRADE_NOT_EXIST', '交易不存在');
    if (!trade.paid) throw new RoyaltyRefusal('ACQ.TRADE_STATUS_ERROR', '交易状态不合法,未支付的交易不能分账');
    if (!trade.royalty_freeze) throw new RoyaltyRefusal('ACQ.TRADE_SETTLE_ERROR', '分账处理失败: 交易未冻结分账资金 (extend_params.royalty_freeze)');
    if (this.#finished(app_id, trade_no)) throw new RoyaltyRefusal('ACQ.TRADE_SETTLE_ERROR', '分账处理失败: 该交易已完结分账,剩余资金已解冻');
    for (const p of params) {
      if (!this.#bound.has(key(app_id, `${p.trans_in_type}/${p.trans_in}`))) throw new RoyaltyRefusal('ACQ.INVALID_PARAMETER', `分账收入方未绑定分账关系 (${p.trans_in_type})`);
    }
    const asked = params.reduce((sum, p) => sum + p.amount_fen, 0n);
    const left = this.unsettled(trade);
    if (asked > left) throw new RoyaltyRefusal('ACQ.ALLOC_AMOUNT_VALIDATE_ERROR', `分账金额超过最大可分账金额 (${formatYuan(left > 0n ? left : 0n)})`);
    if (this.#settles.size >= kept_max) throw new RoyaltyRefusal('isp.unknow-error', 'sandbox: too many settles kept (POST /sandbox/reset)');
    const now = chinaDateTime(new Date());
    const created: Settle = {
      app_id, trade_no, out_trade_no: trade.out_trade_no, out_request_no, settle_no: this.#nextId('2024'), operation_dt: now, finishes, processed: false,
      fingerprint, requests: 1,
      details: params.map((p) => ({ ...p, state: 'PROCESSING', detail_id: this.#nextId('2088'), returned_fen: 0n })),
    };
    this.#settles.set(key(app_id, out_request_no), created);
    this.core.log({ event: finishes && params.length === 0 ? 'royalty_unfreeze' : 'royalty_settle_created', provider: 'alipay', out_trade_no: trade.out_trade_no, out_request_no });
    const process = () => {
      const at = chinaDateTime(new Date());
      for (const d of created.details) Object.assign(d, { state: 'SUCCESS', execute_dt: at });
      created.processed = true;
      if (finishes) created.unfrozen_fen = this.unsettled(this.tradeOf(app_id, trade_no) ?? trade);
    };
    // An unfreeze (no details to transfer) is processed at once, whatever the mode.
    if (mode === 'sync' || params.length === 0) process();
    else this.core.later(this.settle_ms, process);
    return { code: '10000', msg: 'Success', trade_no, settle_no: created.settle_no };
  }

  /** alipay.trade.order.settle.query: by settle_no, or out_request_no and trade_no. */
  query(app_id: string, biz: Record<string, unknown>): Record<string, unknown> {
    const settle_no = stringField(biz, 'settle_no');
    const out_request_no = stringField(biz, 'out_request_no');
    const trade_no = stringField(biz, 'trade_no');
    if (settle_no === undefined && (out_request_no === undefined || trade_no === undefined)) {
      throw new RoyaltyRefusal('ACQ.INVALID_PARAMETER', '参数无效:settle_no或out_request_no与trade_no必须传入');
    }
    const found = settle_no !== undefined
      ? [...this.#settles.values()].find((s) => s.app_id === app_id && s.settle_no === settle_no)
      : this.#settles.get(key(app_id, out_request_no!));
    if (found === undefined || (trade_no !== undefined && found.trade_no !== trade_no)) throw new RoyaltyRefusal('ACQ.SETTLE_NOT_EXIST', '分账请求不存在');
    const seller = this.tradeOf(app_id, found.trade_no)?.seller_id ?? '';
    return {
      code: '10000', msg: 'Success', out_request_no: found.out_request_no, operation_dt: found.operation_dt,
      royalty_detail_list: found.details.map((d) => ({
        operation_type: 'transfer', execute_dt: d.execute_dt, trans_out: seller, trans_out_type: 'userId', trans_in: d.trans_in, trans_in_type: d.trans_in_type,
        amount: formatYuan(d.amount_fen), state: d.state, detail_id: d.detail_id,
      })),
    };
  }

  /** What of the trade may still be settled: paid − refunded − (settled − returned). */
  unsettled(trade: RoyaltyTrade): bigint {
    return trade.total_fen - trade.refunded_fen - this.outstanding(trade.app_id, trade.trade_no);
  }

  /** Checks a refund's refund_royalty_parameters against the trade (each from a receiver holding
   * that much of it, in all no more than the refund) and that the merchant's part of the trade
   * and the shares taken back cover the refund; answers the shares to take back. */
  checkRefund(trade: RoyaltyTrade, refund_fen: bigint, value: unknown): RefundRoyalty[] {
    const returns = parseRefundRoyalty(value);
    const held = new Map<string, bigint>();
    for (const settle of this.#settles.values()) {
      if (settle.app_id !== trade.app_id || settle.trade_no !== trade.trade_no) continue;
      for (const d of settle.details) if (d.state === 'SUCCESS') held.set(d.trans_in, (held.get(d.trans_in) ?? 0n) + d.amount_fen - d.returned_fen);
    }
    let back = 0n;
    for (const [i, r] of returns.entries()) {
      const has = held.get(r.trans_out) ?? 0n;
      if (r.amount_fen > has) throw new RoyaltyRefusal('ACQ.INVALID_PARAMETER', `refund_royalty_parameters[${i}]: 退分账金额超过该分账方在本交易的可退金额`);
      held.set(r.trans_out, has - r.amount_fen);
      back += r.amount_fen;
    }
    if (back > refund_fen) throw new RoyaltyRefusal('ACQ.INVALID_PARAMETER', '退分账金额之和不能大于退款金额');
    // The merchant's part of the trade, and what the refund takes back, must cover it.
    if (refund_fen > this.unsettled(trade) + back) throw new RoyaltyRefusal('ACQ.SELLER_BALANCE_NOT_ENOUGH', '卖家余额不足 (the trade\'s royalty is with its receivers: take it back in refund_royalty_parameters)');
    return returns;
  }

  /** Takes a refund's shares back from the receivers (after checkRefund, when the refund is made),
   * from their earliest settles first. */
  applyRefund(trade: RoyaltyTrade, returns: readonly RefundRoyalty[]): void {
    for (const r of returns) {
      let left = r.amount_fen;
      for (const settle of this.#settles.values()) {
        if (settle.app_id !== trade.app_id || settle.trade_no !== trade.trade_no) continue;
        for (const d of settle.details) {
          if (left === 0n || d.state !== 'SUCCESS' || d.trans_in !== r.trans_out) continue;
          const take = d.amount_fen - d.returned_fen < left ? d.amount_fen - d.returned_fen : left;
          d.returned_fen += take;
          left -= take;
        }
      }
    }
  }

  /** GET /sandbox/alipay/royalty?out_trade_no_prefix=: every settle of the matching trades (its
   * details with returned amounts, finishes, unfrozen once processed) and the app's bindings. */
  control(prefix: string): Reply {
    const settles = [...this.#settles.values()].filter((s) => s.out_trade_no.startsWith(prefix)).map((s) => ({
      app_id: s.app_id, out_trade_no: s.out_trade_no, trade_no: s.trade_no, out_request_no: s.out_request_no, settle_no: s.settle_no, finishes: s.finishes,
      processed: s.processed, requests: s.requests, ...(s.unfrozen_fen === undefined ? {} : { unfrozen_amount: formatYuan(s.unfrozen_fen) }),
      royalty_detail_list: s.details.map((d) => ({
        trans_in_type: d.trans_in_type, trans_in: d.trans_in, amount: formatYuan(d.amount_fen), state: d.state, returned_amount: formatYuan(d.returned_fen),
      })),
    }));
    const bindings = [...this.#bound].map((k) => {
      const [app_id, receiver] = k.split('\u0000') as [string, string];
      const [type, ...account] = receiver.split('/');
      return { app_id, type, account: account.join('/') };
    });
    return { status: 200, body: { settles, bindings } };
  }

  #finished(app_id: string, trade_no: string): boolean {
    for (const s of this.#settles.values()) if (s.finishes && s.app_id === app_id && s.trade_no === trade_no) return true;
    return false;
  }

  #nextId(head: string): string {
    this.#sequence += 1;
    return `${head}${Date.now()}${String(this.#sequence).padStart(8, '0')}`;
  }
}

function parseRoyaltyParameters(value: unknown, finishes: boolean): Omit<RoyaltyDetail, 'state' | 'detail_id' | 'returned_fen'>[] {
  if (value === undefined && finishes) return [];
  if (!Array.isArray(value) || (value.length === 0 && !finishes) || value.length > 50) {
    throw new RoyaltyRefusal('ACQ.INVALID_PARAMETER', 'royalty_parameters必须是1到50条分账明细 (空: 仅在royalty_finish为true时,解冻剩余资金)');
  }
  const seen = new Set<string>();
  return value.map((item: unknown, i) => {
    const royalty_type = stringField(item, 'royalty_type') ?? 'transfer';
    const trans_in_type = stringField(item, 'trans_in_type') ?? 'userId';
    const trans_in = stringField(item, 'trans_in');
    const amount_fen = parseYuan(stringField(item, 'amount'));
    if (royalty_type !== 'transfer') throw new RoyaltyRefusal('ACQ.INVALID_PARAMETER', `royalty_parameters[${i}].royalty_type只支持transfer`);
    if (!receiver_types.has(trans_in_type)) throw new RoyaltyRefusal('ACQ.INVALID_PARAMETER', `royalty_parameters[${i}].trans_in_type必须是userId、loginName或openId`);
    if (trans_in === undefined || trans_in === '') throw new RoyaltyRefusal('ACQ.INVALID_PARAMETER', `royalty_parameters[${i}].trans_in不能为空`);
    if (amount_fen === undefined || amount_fen <= 0n) throw new RoyaltyRefusal('ACQ.INVALID_PARAMETER', `royalty_parameters[${i}].amount必须是大于0的金额(元,两位小数)`);
    if (seen.has(`${trans_in_type}/${trans_in}`)) throw new RoyaltyRefusal('ACQ.INVALID_PARAMETER', `royalty_parameters[${i}]: 分账收入方重复`);
    seen.add(`${trans_in_type}/${trans_in}`);
    const desc = stringField(item, 'desc') ?? '';
    if (Array.from(desc).length > 1000) throw new RoyaltyRefusal('ACQ.INVALID_PARAMETER', `royalty_parameters[${i}].desc不超过1000字`);
    return { trans_in_type, trans_in, amount_fen, desc };
  });
}

function parseRefundRoyalty(value: unknown): RefundRoyalty[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > 50) throw new RoyaltyRefusal('ACQ.INVALID_PARAMETER', 'refund_royalty_parameters必须是至多50条退分账明细');
  return value.map((item: unknown, i) => {
    const royalty_type = stringField(item, 'royalty_type') ?? 'transfer';
    const trans_out = stringField(item, 'trans_out');
    const amount_fen = parseYuan(stringField(item, 'amount'));
    if (royalty_type !== 'transfer') throw new RoyaltyRefusal('ACQ.INVALID_PARAMETER', `refund_royalty_parameters[${i}].royalty_type只支持transfer`);
    if (trans_out === undefined || trans_out === '') throw new RoyaltyRefusal('ACQ.INVALID_PARAMETER', `refund_royalty_parameters[${i}].trans_out不能为空`);
    if (amount_fen === undefined || amount_fen <= 0n) throw new RoyaltyRefusal('ACQ.INVALID_PARAMETER', `refund_royalty_parameters[${i}].amount必须是大于0的金额(元,两位小数)`);
    return { trans_out, amount_fen };
  });
}

function key(app_id: string, no: string): string {
  return `${app_id}\u0000${no}`;
}
