// Alipay 交易分账 (trade royalty, open platform v1 gateway) wire types and the pure functions
// between them and the channel's profit-sharing types. No I/O here.
//
// - A payment of a profit-sharing channel is created with extend_params.royalty_freeze "true":
//   Alipay keeps its money frozen for royalty until the merchant's last settle.
// - Receivers are bound to the merchant first: alipay.trade.royalty.relation.bind
//   (receiver_list [{type userId | loginName, account}], out_request_no).
// - A split is alipay.trade.order.settle: out_request_no = our share_no (Alipay dedupes a
//   resend on it), trade_no, royalty_parameters [{royalty_type transfer, trans_in_type, trans_in,
//   amount (yuan), desc}], extend_params.royalty_finish "true" on the last one (the rest is
//   unfrozen to the merchant once it is processed; no receivers: an unfreeze only), royalty_mode
//   async. It answers settle_no; alipay.trade.order.settle.query (out_request_no + trade_no)
//   lists royalty_detail_list, each SUCCESS, FAIL or PROCESSING.
// - Shares come back inside the refund (alipay.trade.refund refund_royalty_parameters, in
//   transformers.ts): there is no separate return call.

import { createHash } from 'node:crypto';
import { ChannelError, type ShareOutcome, type ShareRequest } from '../channel';
import { formatYuan, parseYuan } from '../shared/http';
import { classify, type AlipayResponseBase } from './transformers';

/** Alipay's rule for out_request_no: up to 64 letters, digits and underscores. */
const out_request_no_pattern = /^[0-9A-Za-z_]{1,64}$/;
/** A 2088… Alipay user id (16 digits). */
const user_id_pattern = /^2088\d{12}$/;
/** Alipay's limit on a royalty detail's desc (characters). */
const desc_chars_max = 1000;

export const ROYALTY_METHODS = {
  bind: 'alipay.trade.royalty.relation.bind',
  settle: 'alipay.trade.order.settle',
  settle_query: 'alipay.trade.order.settle.query',
} as const;

/** How receivers are named at Alipay: a user id (2088…) or a logon id (phone, email). */
export type AlipayReceiverType = 'userId' | 'loginName';

interface RoyaltyParameter {
  royalty_type: 'transfer';
  trans_in_type: AlipayReceiverType;
  trans_in: string;
  amount: string;
  desc: string;
}

export interface AlipaySettleBiz {
  out_request_no: string;
  trade_no: string;
  royalty_parameters: RoyaltyParameter[];
  extend_params: { royalty_finish: 'true' | 'false' };
  royalty_mode: 'async';
}

interface AlipayRoyaltyDetail {
  operation_type?: 'transfer' | 'replenish' | string;
  trans_in?: string;
  trans_in_type?: string;
  trans_out?: string;
  amount?: string;
  state?: 'SUCCESS' | 'FAIL' | 'PROCESSING' | string;
  error_code?: string;
  error_desc?: string;
  execute_dt?: string;
  detail_id?: string;
}

export interface AlipaySettleQueryResponse extends AlipayResponseBase {
  out_request_no?: string;
  operation_dt?: string;
  royalty_detail_list?: AlipayRoyaltyDetail[];
}

function refusedLocally(message: string): ChannelError {
  return new ChannelError('rejected', 'INVALID_PARAMETER', message);
}

const clipDesc = (text: string): string => Array.from(text).slice(0, desc_chars_max).join('') || '分账';

/** Checks an account against its type before Alipay sees it. */
function checkAccount(type: AlipayReceiverType, account: string, what: string): void {
  if (type === 'userId' && !user_id_pattern.test(account)) throw refusedLocally(`${what} must be an Alipay user id (2088 and 12 digits) for receiver type userId`);
  if (type === 'loginName' && (account === '' || account.length > 100)) throw refusedLocally(`${what} must be an Alipay logon id`);
}

/** The bind's out_request_no: one per receiver, the same on every call (a repeat is the same bind). */
export function bindRequestNo(type: AlipayReceiverType, account: string): string {
  return `bind_${createHash('sha256').update(`${type}/${account}`).digest('hex').slice(0, 40)}`;
}

interface AlipayBindBiz {
  receiver_list: { type: AlipayReceiverType; account: string }[];
  out_request_no: string;
}

export function toBindBiz(type: AlipayReceiverType, account: string): AlipayBindBiz {
  checkAccount(type, account, 'receiver account');
  return { receiver_list: [{ type, account }], out_request_no: bindRequestNo(type, account) };
}

/** A bind's answer: bound (10000) or refused with Alipay's code; an unknown answer is ambiguous. */
export function fromBindResponse(body: AlipayResponseBase & { result_code?: string }): void {
  const outcome = classify('royalty relation bind', body);
  if (outcome.kind === 'error') throw outcome.error;
  if (outcome.kind === 'business_failure') {
    if (outcome.sub_code === 'ACQ.SYSTEM_ERROR') throw new ChannelError('ambiguous', outcome.sub_code, outcome.message);
    throw new ChannelError('rejected', outcome.sub_code, outcome.message);
  }
  if (outcome.kind === 'processing' || (body.result_code !== undefined && body.result_code !== 'SUCCESS')) {
    throw new ChannelError('ambiguous', 'BIND_NOT_CONFIRMED', 'alipay royalty relation bind: not confirmed');
  }
}

/** A split (or, with no receivers and finish, an unfreeze) → alipay.trade.order.settle's biz_content. */
export function toSettleBiz(request: ShareRequest, type: AlipayReceiverType): AlipaySettleBiz {
  if (!out_request_no_pattern.test(request.share_no)) throw refusedLocally('share_no must be 1 to 64 letters, digits or _ to be an out_request_no');
  if (request.channel_trade_no === '') throw refusedLocally('a settle names the paid trade_no');
  if (request.receivers.length === 0 && !request.finish) throw refusedLocally('a settle without receivers is an unfreeze: finish only');
  const royalty_parameters = request.receivers.map((r, i): RoyaltyParameter => {
    checkAccount(type, r.account, `receivers[${i}].account`);
    if (r.amount_minor <= 0n) throw refusedLocally(`receivers[${i}] amount must be positive`);
    return { royalty_type: 'transfer', trans_in_type: type, trans_in: r.account, amount: formatYuan(r.amount_minor), desc: clipDesc(r.description) };
  });
  return {
    out_request_no: request.share_no, trade_no: request.channel_trade_no, royalty_parameters,
    extend_params: { royalty_finish: request.finish ? 'true' : 'false' }, royalty_mode: 'async',
  };
}

/** Settle failures meaning "unknown, ask again". */
const ambiguous_settle_codes = new Set(['ACQ.SYSTEM_ERROR', 'aop.ACQ.SYSTEM_ERROR']);

/** The settle's answer: accepted (its settle_no; the details settle asynchronously, query them)
 * or refused with Alipay's code (nothing moved). */
export function fromSettleResponse(body: AlipayResponseBase & { trade_no?: string; settle_no?: string }): { settle_no: string | undefined } {
  const outcome = classify('order settle', body);
  if (outcome.kind === 'error') throw outcome.error;
  if (outcome.kind === 'business_failure') {
    if (ambiguous_settle_codes.has(outcome.sub_code)) throw new ChannelError('ambiguous', outcome.sub_code, outcome.message);
    throw new ChannelError('rejected', outcome.sub_code, outcome.message);
  }
  return { settle_no: typeof body.settle_no === 'string' && body.settle_no !== '' ? body.settle_no : undefined };
}

export function toSettleQueryBiz(share_no: string, trade_no: string): { out_request_no: string; trade_no: string } {
  return { out_request_no: share_no, trade_no };
}

/** Answers meaning Alipay has no settle under this out_request_no (the call never reached it). */
const settle_absent_codes = new Set(['ACQ.SETTLE_NOT_EXIST', 'ACQ.TRADE_NOT_EXIST']);

/**
 * settle.query → ShareOutcome, each receiver of the request matched to a `transfer` detail by
 * trans_in and amount. Final only when each is SUCCESS (the share reached it) or FAIL (it stays
 * with the merchant); anything else, or a receiver not listed yet, is still processing. An
 * unfreeze (no receivers) is final once Alipay answers it.
 */
export function fromSettleQueryResponse(body: AlipaySettleQueryResponse, request: Pick<ShareRequest, 'share_no' | 'receivers'>, channel_share_no: string): ShareOutcome {
  const outcome = classify('order settle query', body);
  if (outcome.kind === 'error') throw outcome.error;
  if (outcome.kind === 'business_failure') {
    if (settle_absent_codes.has(outcome.sub_code)) return { kind: 'not_found' };
    throw new ChannelError('ambiguous', outcome.sub_code, outcome.message);
  }
  if (outcome.kind === 'processing') return { kind: 'processing' };
  if (body.out_request_no !== undefined && body.out_request_no !== request.share_no) {
    throw new ChannelError('ambiguous', 'BAD_RESPONSE', 'alipay order settle query: answer is for another out_request_no');
  }
  const details = (body.royalty_detail_list ?? []).filter((d) => d.operation_type === undefined || d.operation_type === 'transfer');
  const used = new Set<number>();
  const received: boolean[] = [];
  let final = true;
  for (const receiver of request.receivers) {
    const index = details.findIndex((d, i) => !used.has(i) && d.trans_in === receiver.account && parseYuan(d.amount) === receiver.amount_minor);
    if (index < 0) {
      final = false;
      received.push(false);
      continue;
    }
    used.add(index);
    const state = details[index]!.state;
    if (state !== 'SUCCESS' && state !== 'FAIL') final = false;
    received.push(state === 'SUCCESS');
  }
  return final ? { kind: 'finished', channel_share_no, received } : { kind: 'processing' };
}
