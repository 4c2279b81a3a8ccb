// The sandbox's WeChat Pay profit sharing (分账, API v3, direct merchant): receivers added, split
// orders on a paid transaction created with settle_info.profit_sharing (deduplicated by
// out_order_no: the same number again is the same order), each PROCESSING until it settles
// (FINISHED, every receiver SUCCESS), returns from a merchant receiver (分账回退) and their
// queries. It keeps what a split leaves of the order: a refund of the order must fit in paid −
// refunded − (shared − returned), as WeChat refuses a refund the merchant's funds of the order
// cannot cover. An order with unfreeze_unsplit true, or an unfreeze (`POST
// /v3/profitsharing/orders/unfreeze`, an order of no receivers, queried like any), ends the
// transaction's profit sharing: once it settles, what is left unsplit is unfrozen to the merchant
// (`unfrozen` in the control view) and WeChat takes no later order of the transaction. Each
// settled order and return is told by callbacks (分账动账通知: PROFITSHARING.SUCCESS per
// receiver, PROFITSHARING.RETURN per return), sent by the owner (wechatpay.ts). Written from
// WeChat's documentation, not from the adapter (issue 20).

import { randomUUID } from 'node:crypto';
import { HttpError, stringField, type Reply, type SandboxCore } from './core';
import { toChinaTime } from './protocol/formats';
import { wechatEncryptResource } from './protocol/wechatpay';

/** What the sandbox knows of a paid order (owned by WechatSandbox). */
export interface ShareableOrder {
  mchid: string;
  out_trade_no: string;
  transaction_id: string;
  paid: boolean;
  profit_sharing: boolean;
  total_fen: number;
  refunded_fen: number;
  /** Where its callbacks go (profit-sharing ones too: standing in for the merchant platform's setting). */
  notify_url: string;
}

/** What sending profit-sharing callbacks takes from the sandbox's WeChat Pay. */
interface ShareCallbackPort {
  apiv3_key(mchid: string): string;
  /** The signed callback headers of a body. */
  headers(body: string): Record<string, string>;
  /** The platform key's id (what Wechatpay-Serial must name for an encrypted field). */
  platform_serial: string;
  /** An RSA-OAEP (SHA-1) field to the platform key opened; undefined when it does not open. */
  decrypt(ciphertext: string): string | undefined;
}

/** One profit-sharing callback (分账动账通知) to send: its event type and resource. */
interface ShareNotice {
  mchid: string;
  out_trade_no: string;
  event_type: 'PROFITSHARING.SUCCESS' | 'PROFITSHARING.CLOSED' | 'PROFITSHARING.RETURN';
  resource: {
    mchid: string; transaction_id: string; order_id: string; out_order_no: string;
    receiver: { type: string; account: string; amount: number; description: string };
    success_time: string;
  };
}

interface ShareReceiver {
  type: string;
  account: string;
  amount: number;
  description: string;
  result: 'PENDING' | 'SUCCESS' | 'CLOSED';
  detail_id: string;
  create_time: string;
  finish_time?: string;
  returned: number;
}

interface ShareOrder {
  mchid: string;
  transaction_id: string;
  out_trade_no: string;
  out_order_no: string;
  order_id: string;
  state: 'PROCESSING' | 'FINISHED';
  receivers: ShareReceiver[];
  fingerprint: string;
  requests: number;
  /** unfreeze_unsplit true, or an unfreeze: the rest is unfrozen to the merchant once FINISHED. */
  finishes: boolean;
  /** Fen unfrozen to the merchant when it settled (finishes only). */
  unfrozen?: number;
}

interface ReturnOrder {
  mchid: string;
  out_order_no: string;
  order_id: string;
  out_return_no: string;
  return_id: string;
  return_mchid: string;
  amount: number;
  description: string;
  result: 'SUCCESS' | 'FAILED';
  fail_reason?: string;
  create_time: string;
  finish_time: string;
  fingerprint: string;
  requests: number;
}

const no_pattern = /^[0-9A-Za-z_\-|*@]{1,64}$/;
const receiver_types = new Set(['MERCHANT_ID', 'PERSONAL_OPENID']);
/** Split orders and returns kept (bounded like everything the sandbox keeps). */
const kept_max = 200_000;

export class WechatProfitSharing {
  /** Added receivers (mchid, type/account) → the name given when added (never logged). */
  readonly #receivers = new Map<string, string | undefined>();
  readonly #orders = new Map<string, ShareOrder>();
  readonly #returns = new Map<string, ReturnOrder>();
  #sequence = 0;

  constructor(
    private readonly core: SandboxCore,
    /** The paid order of a transaction_id of this merchant. */
    private readonly orderOf: (mchid: string, transaction_id: string) => ShareableOrder | undefined,
    /** How long an order (and the owner's refunds) stays PROCESSING before it settles. */
    readonly settle_ms: number,
    /** What the callbacks need of the owner (wechatpay.ts); without it none are sent. */
    private readonly callbacks?: ShareCallbackPort,
  ) {}

  reset(): void {
    this.#receivers.clear();
    this.#orders.clear();
    this.#returns.clear();
  }

  /** The out_trade_no a profit-sharing call concerns (for fault scopes), when it names one. */
  outTradeNo(mchid: string, path: string, json: unknown, url: URL): string | undefined {
    const transaction_id = stringField(json, 'transaction_id') ?? url.searchParams.get('transaction_id') ?? undefined;
    if (transaction_id !== undefined) return this.orderOf(mchid, transaction_id)?.out_trade_no;
    const out_order_no = stringField(json, 'out_order_no') ?? url.searchParams.get('out_order_no') ?? undefined;
    return out_order_no === undefined ? undefined : this.#orders.get(key(mchid, out_order_no))?.out_trade_no;
  }

  /** What is shared of an order and not returned (fen): the merchant no longer holds it. */
  outstanding(mchid: string, out_trade_no: string): number {
    let sum = 0;
    for (const order of this.#orders.values()) {
      if (order.mchid !== mchid || order.out_trade_no !== out_trade_no) continue;
      for (const r of order.receivers) if (r.result !== 'CLOSED') sum += r.amount - r.returned;
    }
    return sum;
  }

  /** `serial`: the call's Wechatpay-Serial header. */
  handle(mchid: string, appid: string, method: string, path: string, json: unknown, url: URL, serial?: string): Reply | undefined {
    if (method === 'POST' && path === '/v3/profitsharing/receivers/add') return this.#addReceiver(mchid, appid, json, serial);
    if (method === 'POST' && path === '/v3/profitsharing/orders') return this.#share(mchid, appid, json);
    if (method === 'POST' && path === '/v3/profitsharing/orders/unfreeze') return this.#share(mchid, appid, json, true);
    const query = /^\/v3\/profitsharing\/orders\/([^/]+)$/.exec(path);
    if (method === 'GET' && query !== null) return this.#query(mchid, decodeURIComponent(query[1]!), url.searchParams.get('transaction_id'));
    if (method === 'POST' && path === '/v3/profitsharing/return-orders') return this.#return(mchid, json);
    const return_query = /^\/v3\/profitsharing\/return-orders\/([^/]+)$/.exec(path);
    if (method === 'GET' && return_query !== null) return this.#returnQuery(mchid, decodeURIComponent(return_query[1]!), url.searchParams.get('out_order_no'));
    return undefined;
  }

  /** A receiver: `name` RSA-OAEP-encrypted to the platform key (Wechatpay-Serial naming it),
   * required for MERCHANT_ID (the merchant's full name), optional for a person. */
  #addReceiver(mchid: string, appid: string, json: unknown, serial: string | undefined): Reply {
    const type = stringField(json, 'type');
    const account = stringField(json, 'account');
    if (stringField(json, 'appid') !== appid) throw paramError('appid', 'appid和mchid不匹配');
    if (type === undefined || !receiver_types.has(type)) throw paramError('type', 'type必须是MERCHANT_ID或PERSONAL_OPENID');
    if (account === undefined || account.length > 64) throw paramError('account', '缺少参数account');
    if (stringField(json, 'relation_type') === undefined) throw paramError('relation_type', '缺少参数relation_type');
    const sealed = stringField(json, 'name');
    if (sealed === undefined && type === 'MERCHANT_ID') throw paramError('name', '分账接收方类型为MERCHANT_ID时,name(商户全称)必填');
    let name: string | undefined;
    if (sealed !== undefined) {
      if (serial === undefined || serial !== this.callbacks?.platform_serial) {
        throw new HttpError(400, 'PARAM_ERROR', 'Wechatpay-Serial 未指定或与加密敏感信息所用的平台证书/公钥不符', { field: 'Wechatpay-Serial', location: 'header' });
      }
      name = this.callbacks.decrypt(sealed);
      if (name === undefined || name === '') throw paramError('name', 'name解密失败,请使用平台证书/公钥以RSA-OAEP加密');
    }
    this.#receivers.set(key(mchid, `${type}/${account}`), name);
    return { status: 200, body: { type, account, relation_type: stringField(json, 'relation_type') } };
  }

  /** GET /sandbox/wechatpay/profitsharing/receivers: the receivers added, with the name each was
   * added with as the sandbox decrypted it (what tests check the encryption by). */
  receiversView(): Reply {
    const receivers = [...this.#receivers.entries()].map(([k, name]) => {
      const [mchid, rest] = k.split('\u0000') as [string, string];
      const [type, account] = rest.split('/') as [string, string];
      return { mchid, type, account, ...(name === undefined ? {} : { name }) };
    });
    return { status: 200, body: { receivers } };
  }

  /** A split order, or (unfreeze) an unfreeze of what is left: an order of no receivers. */
  #share(mchid: string, appid: string, json: unknown, unfreeze = false): Reply {
    const body = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
    const out_order_no = stringField(body, 'out_order_no');
    const transaction_id = stringField(body, 'transaction_id');
    if (out_order_no === undefined || !no_pattern.test(out_order_no)) throw paramError('out_order_no', 'out_order_no格式错误');
    if (transaction_id === undefined) throw paramError('transaction_id', '缺少参数transaction_id');
    if (unfreeze) {
      const description = stringField(body, 'description');
      if (description === undefined || description === '' || Array.from(description).length > 80) throw paramError('description', 'description必填且不超过80字');
    } else {
      if (stringField(body, 'appid') !== appid) throw paramError('appid', 'appid和mchid不匹配');
      if (typeof body.unfreeze_unsplit !== 'boolean') throw paramError('unfreeze_unsplit', '缺少参数unfreeze_unsplit');
    }
    const receivers = unfreeze ? [] : parseReceivers(body.receivers);
    const finishes = unfreeze || body.unfreeze_unsplit === true;
    const fingerprint = JSON.stringify({ transaction_id, unfreeze, receivers: receivers.map((r) => [r.type, r.account, r.amount]) });
    const existing = this.#orders.get(key(mchid, out_order_no));
    if (existing !== undefined) {
      // WeChat: the same out_order_no again is the same request (重入), answered as it stands.
      if (existing.fingerprint !== fingerprint) throw new HttpError(400, 'INVALID_REQUEST', '商户分账单号重复,请求参数与原分账单不一致');
      existing.requests += 1;
      return { status: 200, body: orderView(existing) };
    }
    const order = this.orderOf(mchid, transaction_id);
    if (order === undefined) throw new HttpError(404, 'RESOURCE_NOT_EXISTS', '微信订单不存在');
    if (!order.paid) throw new HttpError(400, 'INVALID_REQUEST', '订单未支付,不能分账');
    if (!order.profit_sharing) throw new HttpError(400, 'INVALID_REQUEST', '该笔订单不支持分账 (settle_info.profit_sharing)');
    if (this.#finished(mchid, order.out_trade_no)) throw new HttpError(400, 'INVALID_REQUEST', '该笔订单已完结分账,剩余资金已解冻 (the rest was unfrozen: no more orders)');
    for (const r of receivers) {
      if (!this.#receivers.has(key(mchid, `${r.type}/${r.account}`))) throw new HttpError(400, 'RECEIVER_INVALID', `分账接收方未添加 (${r.type})`);
    }
    const asked = receivers.reduce((sum, r) => sum + r.amount, 0);
    const left = order.total_fen - order.refunded_fen - this.outstanding(mchid, order.out_trade_no);
    if (asked > left) throw new HttpError(400, 'NOT_ENOUGH', '分账金额不足 (more than the order has left to split)');
    if (this.#orders.size + this.#returns.size >= kept_max) throw new HttpError(500, 'SYSTEM_ERROR', 'sandbox: too many profit-sharing orders kept (POST /sandbox/reset)');
    const now = toChinaTime(new Date());
    const created: ShareOrder = {
      mchid, transaction_id, out_trade_no: order.out_trade_no, out_order_no, order_id: this.#nextId('3008'), state: 'PROCESSING', fingerprint, requests: 1, finishes,
      receivers: receivers.map((r) => ({ ...r, result: 'PENDING', detail_id: this.#nextId('3601'), create_time: now, returned: 0 })),
    };
    this.#orders.set(key(mchid, out_order_no), created);
    this.core.log({ event: unfreeze ? 'profit_sharing_unfreeze' : 'profit_sharing_created', provider: 'wechatpay', out_trade_no: order.out_trade_no, out_order_no });
    this.core.later(this.settle_ms, () => {
      const at = toChinaTime(new Date());
      created.state = 'FINISHED';
      for (const r of created.receivers) Object.assign(r, { result: 'SUCCESS', finish_time: at });
      if (finishes) created.unfrozen = order.total_fen - order.refunded_fen - this.outstanding(mchid, order.out_trade_no);
      this.#notify(order.notify_url, settledNotices(created, at));
    });
    return { status: 200, body: orderView(created) };
  }

  /** Whether an order ending the transaction's profit sharing was taken. */
  #finished(mchid: string, out_trade_no: string): boolean {
    for (const order of this.#orders.values()) if (order.finishes && order.mchid === mchid && order.out_trade_no === out_trade_no) return true;
    return false;
  }

  #query(mchid: string, out_order_no: string, transaction_id: string | null): Reply {
    if (transaction_id === null || transaction_id === '') throw paramError('transaction_id', '缺少参数transaction_id', 'query');
    const order = this.#orders.get(key(mchid, out_order_no));
    if (order === undefined || order.transaction_id !== transaction_id) throw new HttpError(404, 'RESOURCE_NOT_EXISTS', '记录不存在');
    return { status: 200, body: orderView(order) };
  }

  #return(mchid: string, json: unknown): Reply {
    const out_order_no = stringField(json, 'out_order_no');
    const out_return_no = stringField(json, 'out_return_no');
    const return_mchid = stringField(json, 'return_mchid');
    const amount = (json as Record<string, unknown> | undefined)?.amount;
    if (out_order_no === undefined) throw paramError('out_order_no', 'out_order_no和order_id必须填一个');
    if (out_return_no === undefined || !no_pattern.test(out_return_no)) throw paramError('out_return_no', 'out_return_no格式错误');
    if (return_mchid === undefined) throw paramError('return_mchid', '缺少参数return_mchid');
    if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount <= 0) throw paramError('amount', 'amount必须是正整数 (分)');
    const description = stringField(json, 'description');
    if (description === undefined) throw paramError('description', '缺少参数description');
    const fingerprint = JSON.stringify({ out_order_no, return_mchid, amount });
    const existing = this.#returns.get(key(mchid, out_return_no));
    if (existing !== undefined) {
      if (existing.fingerprint !== fingerprint) throw new HttpError(400, 'INVALID_REQUEST', '商户回退单号重复,请求参数与原回退单不一致');
      existing.requests += 1;
      return { status: 200, body: returnView(existing) };
    }
    const order = this.#orders.get(key(mchid, out_order_no));
    if (order === undefined) throw new HttpError(404, 'RESOURCE_NOT_EXISTS', '分账单不存在');
    // Only a share that reached a merchant receiver is returned, and never more than it.
    const receiver = order.receivers.find((r) => r.type === 'MERCHANT_ID' && r.account === return_mchid && r.result === 'SUCCESS');
    if (receiver === undefined) throw new HttpError(400, 'INVALID_REQUEST', '回退方不是该分账单成功分账的商户接收方');
    if (receiver.returned + amount > receiver.amount) throw new HttpError(400, 'NOT_ENOUGH', '回退金额超过分给该接收方的金额');
    receiver.returned += amount;
    const now = toChinaTime(new Date());
    const created: ReturnOrder = {
      mchid, out_order_no, order_id: order.order_id, out_return_no, return_id: this.#nextId('3008'), return_mchid, amount, description,
      result: 'SUCCESS', create_time: now, finish_time: now, fingerprint, requests: 1,
    };
    this.#returns.set(key(mchid, out_return_no), created);
    this.core.log({ event: 'profit_sharing_returned', provider: 'wechatpay', out_trade_no: order.out_trade_no, out_return_no });
    // PROFITSHARING.RETURN: the return's out_return_no goes in out_order_no.
    this.#notify(this.orderOf(mchid, order.transaction_id)?.notify_url ?? '', [{
      mchid, out_trade_no: order.out_trade_no, event_type: 'PROFITSHARING.RETURN',
      resource: {
        mchid, transaction_id: order.transaction_id, order_id: created.return_id, out_order_no: out_return_no,
        receiver: { type: 'MERCHANT_ID', account: return_mchid, amount, description }, success_time: now,
      },
    }]);
    return { status: 200, body: returnView(created) };
  }

  #returnQuery(mchid: string, out_return_no: string, out_order_no: string | null): Reply {
    const found = this.#returns.get(key(mchid, out_return_no));
    if (found === undefined || found.out_order_no !== out_order_no) throw new HttpError(404, 'RESOURCE_NOT_EXISTS', '记录不存在');
    return { status: 200, body: returnView(found) };
  }

  /** 分账动账通知 of one settled order or return, to the paid transaction's notify_url, signed and
   * encrypted like the payment callback. Callback faults apply with operation `share`:
   * drop_callbacks suppresses them, duplicate_callbacks sends each that many times more. */
  #notify(notify_url: string, notices: ShareNotice[]): void {
    const first = notices[0];
    if (first === undefined || this.callbacks === undefined || notify_url === '') return;
    const faults = this.core.callbackFaults({ provider: 'wechatpay', merchant: first.mchid, out_trade_no: first.out_trade_no, operation: 'share' });
    if (faults.dropped) {
      this.core.log({ event: 'profit_sharing_callbacks_dropped', provider: 'wechatpay', out_trade_no: first.out_trade_no });
      return;
    }
    const port = this.callbacks;
    for (const notice of notices) {
      const event_id = randomUUID();
      const resource = wechatEncryptResource(JSON.stringify(notice.resource), port.apiv3_key(notice.mchid), 'profitsharing');
      const body = JSON.stringify({
        id: event_id, create_time: toChinaTime(new Date()), resource_type: 'encrypt-resource', event_type: notice.event_type,
        summary: notice.event_type === 'PROFITSHARING.RETURN' ? '分账回退' : '分账', resource: { original_type: 'profitsharing', ...resource },
      });
      this.core.deliver({
        provider: 'wechatpay', event_id, mchid: notice.mchid, out_trade_no: notice.out_trade_no, kind: 'profit_sharing',
        notify_url, duplicates: faults.duplicates, delay_ms: faults.delay_ms,
        build: () => ({ body, headers: port.headers(body) }),
        acknowledged: (status) => status !== null && status >= 200 && status < 300,
      });
    }
  }

  /** GET /sandbox/wechatpay/profitsharing?out_trade_no_prefix=: every split order (finishes:
   * it ends the transaction's profit sharing; unfrozen: the fen it unfroze once settled) and
   * return. */
  control(prefix: string): Reply {
    const orders = [...this.#orders.values()].filter((o) => o.out_trade_no.startsWith(prefix))
      .map((o) => ({
        ...orderView(o), out_trade_no: o.out_trade_no, requests: o.requests, finishes: o.finishes,
        ...(o.unfrozen === undefined ? {} : { unfrozen: o.unfrozen }),
      }));
    const returns = [...this.#returns.values()].filter((r) => (this.#orders.get(key(r.mchid, r.out_order_no))?.out_trade_no ?? '').startsWith(prefix))
      .map((r) => ({ ...returnView(r), requests: r.requests }));
    return { status: 200, body: { orders, returns } };
  }

  #nextId(head: string): string {
    this.#sequence += 1;
    return `${head}${Date.now()}${String(this.#sequence).padStart(8, '0')}`;
  }
}

/** The callbacks of a settled order: one per receiver (PROFITSHARING.SUCCESS, or CLOSED for a
 * share that did not reach it); an order ending the profit sharing, one more for what it unfroze
 * to the merchant itself (as WeChat's 解冻给分账方). */
function settledNotices(order: ShareOrder, at: string): ShareNotice[] {
  const base = { mchid: order.mchid, transaction_id: order.transaction_id, order_id: order.order_id, out_order_no: order.out_order_no, success_time: at };
  const notices: ShareNotice[] = order.receivers.map((r) => ({
    mchid: order.mchid, out_trade_no: order.out_trade_no, event_type: r.result === 'CLOSED' ? 'PROFITSHARING.CLOSED' : 'PROFITSHARING.SUCCESS',
    resource: { ...base, receiver: { type: r.type, account: r.account, amount: r.amount, description: r.description } },
  }));
  if ((order.unfrozen ?? 0) > 0) {
    notices.push({
      mchid: order.mchid, out_trade_no: order.out_trade_no, event_type: 'PROFITSHARING.SUCCESS',
      resource: { ...base, receiver: { type: 'MERCHANT_ID', account: order.mchid, amount: order.unfrozen!, description: '解冻给分账方' } },
    });
  }
  return notices;
}

function parseReceivers(value: unknown): Omit<ShareReceiver, 'result' | 'detail_id' | 'create_time' | 'returned'>[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > 50) throw paramError('receivers', 'receivers必须是1到50个分账接收方');
  const seen = new Set<string>();
  return value.map((item: unknown, i) => {
    const type = stringField(item, 'type');
    const account = stringField(item, 'account');
    const amount = (item as Record<string, unknown> | undefined)?.amount;
    const description = stringField(item, 'description');
    if (type === undefined || !receiver_types.has(type)) throw paramError(`receivers[${i}].type`, 'type必须是MERCHANT_ID或PERSONAL_OPENID');
    if (account === undefined) throw paramError(`receivers[${i}].account`, '缺少参数account');
    if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount <= 0) throw paramError(`receivers[${i}].amount`, 'amount必须是正整数 (分)');
    if (description === undefined || Array.from(description).length > 80) throw paramError(`receivers[${i}].description`, 'description必填且不超过80字');
    if (seen.has(`${type}/${account}`)) throw paramError(`receivers[${i}].account`, '分账接收方重复');
    seen.add(`${type}/${account}`);
    return { type, account, amount, description };
  });
}

function orderView(order: ShareOrder): Record<string, unknown> {
  return {
    transaction_id: order.transaction_id, out_order_no: order.out_order_no, order_id: order.order_id, state: order.state,
    receivers: order.receivers.map((r) => ({
      amount: r.amount, description: r.description, type: r.type, account: r.account, result: r.result, fail_reason: r.result === 'CLOSED' ? 'ACCOUNT_ABNORMAL' : undefined,
      detail_id: r.detail_id, create_time: r.create_time, ...(r.finish_time === undefined ? {} : { finish_time: r.finish_time }),
    })),
  };
}

function returnView(found: ReturnOrder): Record<string, unknown> {
  return {
    order_id: found.order_id, out_order_no: found.out_order_no, out_return_no: found.out_return_no, return_id: found.return_id,
    return_mchid: found.return_mchid,
    amount: found.amount, description: found.description, result: found.result, create_time: found.create_time, finish_time: found.finish_time,
  };
}

function paramError(field: string, message: string, location: 'body' | 'query' = 'body'): HttpError {
  return new HttpError(400, 'PARAM_ERROR', message, { field, location });
}

function key(mchid: string, no: string): string {
  return `${mchid}\u0000${no}`;
}
