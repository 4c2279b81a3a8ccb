// WeChat Pay API v3 profit sharing (分账, direct merchant) wire types and the pure functions
// between them and the channel's profit-sharing types: add a receiver
// (`POST /v3/profitsharing/receivers/add`), request a split (`POST /v3/profitsharing/orders`,
// out_order_no = our share_no, so WeChat dedupes a resend) and query it
// (`GET /v3/profitsharing/orders/{out_order_no}?transaction_id=`), return part of a receiver's
// share before a refund (`POST /v3/profitsharing/return-orders`) and query the return
// (`GET /v3/profitsharing/return-orders/{out_return_no}?out_order_no=`); the resource of its
// callbacks (分账动账通知, isShareNotice). No I/O here.
//
// States: an order is PROCESSING or FINISHED; each receiver PENDING, SUCCESS or CLOSED (the
// share stays with the merchant). A return is PROCESSING, SUCCESS or FAILED.

import { ChannelError, type ShareOutcome, type ShareRequest, type ShareReturnOutcome, type ShareReturnRequest } from '../channel';
import type { HttpCall } from './transformers';

/** WeChat's rule for out_order_no / out_return_no: up to 64 of digits, letters and _-|*@. */
const share_no_pattern = /^[0-9A-Za-z_\-|*@]{1,64}$/;
/** WeChat's limit on a receiver's or a return's description (characters). */
const share_description_chars_max = 80;

export type WechatReceiverType = 'MERCHANT_ID' | 'PERSONAL_OPENID';

interface WechatShareReceiver {
  type: WechatReceiverType | string;
  account: string;
  amount: number;
  description: string;
  /** Answers only. */
  result?: 'PENDING' | 'SUCCESS' | 'CLOSED' | string;
  fail_reason?: string;
  detail_id?: string;
}

interface WechatShareOrderRequest {
  appid: string;
  transaction_id: string;
  out_order_no: string;
  receivers: WechatShareReceiver[];
  unfreeze_unsplit: boolean;
}

export interface WechatShareOrder {
  transaction_id: string;
  out_order_no: string;
  order_id: string;
  state: 'PROCESSING' | 'FINISHED' | string;
  receivers?: WechatShareReceiver[];
}

interface WechatAddReceiverRequest {
  appid: string;
  type: WechatReceiverType;
  account: string;
  /** RSA-OAEP ciphertext (base64) of the receiver's name, to the WeChat Pay public key. */
  name?: string;
  relation_type: string;
}

interface WechatReturnOrderRequest {
  out_order_no: string;
  out_return_no: string;
  return_mchid: string;
  amount: number;
  description: string;
}

export interface WechatReturnOrder {
  order_id: string;
  out_order_no: string;
  out_return_no: string;
  return_id: string;
  return_mchid: string;
  amount: number;
  result: 'PROCESSING' | 'SUCCESS' | 'FAILED' | string;
  fail_reason?: string;
}

const fen = (amount_minor: bigint, what: string): number => {
  if (amount_minor <= 0n || amount_minor > BigInt(Number.MAX_SAFE_INTEGER)) throw refusedLocally(`${what} must be a positive amount`);
  return Number(amount_minor);
};

const clipText = (text: string): string => Array.from(text).slice(0, share_description_chars_max).join('') || '分账';

function refusedLocally(message: string): ChannelError {
  return new ChannelError('rejected', 'PARAM_ERROR', message);
}

/** WeChat's bound on a receiver's name (bytes of UTF-8): RSA-OAEP (SHA-1) with a 2048-bit key
 * carries at most 214. */
const receiver_name_bytes_max = 214;

/** Adds a receiver. `encryptName` seals its name to the WeChat Pay public key (the call then
 * names that key in Wechatpay-Serial): WeChat requires it for a MERCHANT_ID receiver (the
 * merchant's full name) and checks it when given for a person. */
export function toAddReceiverRequest(
  appid: string, type: WechatReceiverType, receiver: { account: string; name?: string }, encryptName: (name: string) => string,
): HttpCall {
  const name = receiver.name ?? '';
  if (type === 'MERCHANT_ID' && name === '') throw refusedLocally('receivers[].name: WeChat requires the full name of a MERCHANT_ID receiver (商户全称)');
  if (Buffer.byteLength(name, 'utf8') > receiver_name_bytes_max) throw refusedLocally(`receivers[].name must be at most ${receiver_name_bytes_max} bytes of UTF-8`);
  const body: WechatAddReceiverRequest = { appid, type, account: receiver.account, ...(name === '' ? {} : { name: encryptName(name) }), relation_type: 'PARTNER' };
  return { method: 'POST', path: '/v3/profitsharing/receivers/add', body: JSON.stringify(body), ...(name === '' ? {} : { encrypted: true as const }) };
}

/** Receivers are shares of this order only: the rest stays frozen for later splits
 * (unfreeze_unsplit false), so a payment can be split more than once, until the merchant's
 * last split (finish: unfreeze_unsplit true, the rest unfrozen to the merchant). */
export function toShareOrderRequest(request: ShareRequest, appid: string, type: WechatReceiverType): HttpCall {
  if (!share_no_pattern.test(request.share_no)) throw refusedLocally('share_no must be 1 to 64 of [0-9A-Za-z_-|*@] to be an out_order_no');
  if (request.receivers.length === 0 || request.receivers.length > 50) throw refusedLocally('a profit-sharing order has 1 to 50 receivers');
  const body: WechatShareOrderRequest = {
    appid, transaction_id: request.channel_trade_no, out_order_no: request.share_no, unfreeze_unsplit: request.finish,
    receivers: request.receivers.map((r) => ({ type, account: r.account, amount: fen(r.amount_minor, 'a receiver amount'), description: clipText(r.description) })),
  };
  return { method: 'POST', path: '/v3/profitsharing/orders', body: JSON.stringify(body) };
}

/** An unfreeze (分账完结 without shares): what the transaction has left unsplit goes to the
 * merchant; WeChat answers an order (queried like any) and takes no later one. */
export function toUnfreezeRequest(request: ShareRequest): HttpCall {
  if (!share_no_pattern.test(request.share_no)) throw refusedLocally('share_no must be 1 to 64 of [0-9A-Za-z_-|*@] to be an out_order_no');
  const body = { transaction_id: request.channel_trade_no, out_order_no: request.share_no, description: clipText(request.description || '解冻剩余资金') };
  return { method: 'POST', path: '/v3/profitsharing/orders/unfreeze', body: JSON.stringify(body) };
}

export function toShareQueryRequest(share_no: string, transaction_id: string): HttpCall {
  return { method: 'GET', path: `/v3/profitsharing/orders/${encodeURIComponent(share_no)}?transaction_id=${encodeURIComponent(transaction_id)}`, body: '' };
}

export function toReturnOrderRequest(request: ShareReturnRequest): HttpCall {
  if (!share_no_pattern.test(request.return_no)) throw refusedLocally('return_no must be 1 to 64 of [0-9A-Za-z_-|*@] to be an out_return_no');
  const body: WechatReturnOrderRequest = {
    out_order_no: request.share_no, out_return_no: request.return_no, return_mchid: request.account,
    amount: fen(request.amount_minor, 'a return amount'), description: clipText(request.description),
  };
  return { method: 'POST', path: '/v3/profitsharing/return-orders', body: JSON.stringify(body) };
}

export function toReturnQueryRequest(return_no: string, share_no: string): HttpCall {
  return { method: 'GET', path: `/v3/profitsharing/return-orders/${encodeURIComponent(return_no)}?out_order_no=${encodeURIComponent(share_no)}`, body: '' };
}

export function isShareOrder(value: unknown): value is WechatShareOrder {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return typeof record.out_order_no === 'string' && typeof record.order_id === 'string' && typeof record.state === 'string';
}

export function isReturnOrder(value: unknown): value is WechatReturnOrder {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return typeof record.out_return_no === 'string' && typeof record.result === 'string';
}

/** An order answer → ShareOutcome, each receiver of the request matched by its account. Only
 * FINISHED with every receiver SUCCESS or CLOSED is final; anything else is still processing.
 * An answer that lacks a receiver of the request, or names another amount, is not this order. */
export function mapShareOrder(order: WechatShareOrder, request: Pick<ShareRequest, 'receivers'>): ShareOutcome {
  const answered = new Map((order.receivers ?? []).map((r) => [r.account, r]));
  const received: boolean[] = [];
  let final = order.state === 'FINISHED';
  for (const receiver of request.receivers) {
    const got = answered.get(receiver.account);
    if (got === undefined || BigInt(got.amount) !== receiver.amount_minor) {
      throw new ChannelError('ambiguous', 'BAD_RESPONSE', 'wechatpay profit sharing: the answer does not list the receivers of this order');
    }
    if (got.result !== 'SUCCESS' && got.result !== 'CLOSED') final = false;
    received.push(got.result === 'SUCCESS');
  }
  return final ? { kind: 'finished', channel_share_no: order.order_id, received } : { kind: 'processing' };
}

/** The decrypted resource of a profit-sharing callback (分账动账通知): one receiver's movement in
 * an order (PROFITSHARING.SUCCESS; CLOSED taken alike) or a return (PROFITSHARING.RETURN, its
 * out_return_no in out_order_no). */
export interface WechatShareNotice {
  mchid?: string;
  transaction_id: string;
  order_id?: string;
  out_order_no: string;
  receiver: { type?: string; account?: string; amount?: number; description?: string };
  success_time?: string;
}

/** A profit-sharing callback's resource: an out_order_no and a receiver, and no out_trade_no
 * (WeChat has been seen to send these under event_type TRANSACTION.SUCCESS too). */
export function isShareNotice(value: unknown): value is WechatShareNotice {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return typeof record.out_order_no === 'string' && typeof record.transaction_id === 'string' && record.out_trade_no === undefined
    && typeof record.receiver === 'object' && record.receiver !== null;
}

export function mapReturnOrder(order: WechatReturnOrder): ShareReturnOutcome {
  if (order.result === 'SUCCESS') return { kind: 'succeeded' };
  if (order.result === 'FAILED') return { kind: 'failed', code: order.fail_reason ?? 'FAILED', message: `wechatpay profit-sharing return failed: ${order.fail_reason ?? 'no reason given'}` };
  return { kind: 'processing' };
}
