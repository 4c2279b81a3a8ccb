// The one interface every channel adapter implements, and the registry adapters add
// themselves to. The order actor only ever talks to a channel through this file's types.
//
// Rule (Hyperswitch): only an explicit success or failure from a provider is final. Any
// status an adapter does not recognise is `pending` and is settled by query or recon.

export type ProductName =
  | 'WECHAT_NATIVE' | 'WECHAT_JSAPI' | 'WECHAT_APP' | 'WECHAT_H5'
  | 'ALIPAY_QR' | 'ALIPAY_APP' | 'ALIPAY_WAP' | 'ALIPAY_PC'
  | 'UNIONPAY_QUICK' | 'BANK_B2C' | 'BANK_B2B' | 'BARCODE';

/** Payer elements, opened from their sealed form only for the channel call. */
export interface PayerElements {
  client_ip?: string;
  openid?: string;
  auth_code?: string;
  card_token?: string;
  bank_code?: string;
}

export type NextActionType = 'QR_CODE' | 'REDIRECT' | 'SDK_PARAMS' | 'SMS_CODE';

export interface NextAction {
  type: NextActionType;
  /** QR_CODE: code content; REDIRECT: URL; SMS_CODE: a masked hint. */
  value: string;
  /** SDK_PARAMS: what the payer's app hands to the provider's SDK. */
  params?: Record<string, string>;
}

export interface PayRequest {
  /** The provider's out_trade_no: the channel refuses a second order with it. */
  attempt_id: string;
  payment_id: string;
  product: ProductName;
  amount_minor: bigint;
  currency: string;
  subject: string;
  expires_at: Date;
  payer: PayerElements;
  /** Where the provider posts its asynchronous notification for this attempt. */
  notify_url: string;
  /** When the attempt was first sent (persisted with it). Providers that key an order by
   * id and send time (UnionPay orderId + txnTime) need the same instant on every call. */
  requested_at?: Date;
}

/** The card's verification elements (personal data: sealed at rest, never logged). */
export interface CardElements {
  card_no: string;
  holder_name: string;
  id_number: string;
  phone: string;
}

/** One binding at the provider: its order id (and send time, which UnionPay keys orders by). */
export interface BindCardRequest {
  binding_id: string;
  requested_at: Date;
  card: CardElements;
}

/** What the provider said about one attempt (from pay, query or a notification). */
export type AttemptStatus =
  | { kind: 'action_required'; next_action: NextAction; channel_trade_no?: string }
  /** Accepted, result not known yet (payer not paid, USERPAYING, unknown state). */
  | { kind: 'pending'; channel_trade_no?: string }
  | { kind: 'succeeded'; channel_trade_no: string; amount_minor: bigint; paid_at: Date }
  /** Explicit failure: the provider took no money on this attempt. */
  | { kind: 'failed'; code: string; message: string }
  /** The provider closed or revoked the order: no money taken. */
  | { kind: 'closed' }
  /** The provider has no order with this attempt_id. */
  | { kind: 'not_found' };

export interface AttemptRef {
  attempt_id: string;
  payment_id: string;
  product: ProductName;
  amount_minor: bigint;
  currency: string;
  /** PayRequest.requested_at of this attempt, when the caller kept it. */
  requested_at?: Date;
}

/** The payer's answer to an SMS_CODE action (UnionPay quick pay): completes the attempt. */
export interface ConfirmRequest {
  attempt: AttemptRef;
  /** The code the provider texted the cardholder. */
  verification_code: string;
  payer: PayerElements;
  amount_minor: bigint;
  notify_url: string;
  expires_at: Date;
}

export type CloseOutcome = { kind: 'closed' } | { kind: 'already_paid' };

/** An HTTP answer in the provider's own format (callback acknowledgement). */
export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface IncomingNotification {
  /** Path after /notify/<channel_id>, e.g. '' or '/refund'. */
  path_suffix: string;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  body: Buffer;
}

/** A payment callback: what the provider says about one attempt. */
interface PaymentNotification {
  type?: 'payment';
  attempt_id: string;
  status: AttemptStatus;
}

/** A refund callback (e.g. WeChat Pay REFUND.SUCCESS, an Alipay refund notification). */
interface RefundNotification {
  type: 'refund';
  refund_id: string;
  /** The attempt (out_trade_no) the refund returns money from. */
  attempt_id: string;
  status: RefundStatus;
}

/** A profit-sharing callback (WeChat Pay 分账动账通知, PROFITSHARING.*): which order or return
 * it concerns, verified as the provider's. Only a trigger to query that order (core/splits):
 * it carries one receiver's movement, never the order's result. */
interface ProfitSharingNotification {
  type: 'profit_sharing';
  /** Ours and the provider's number of what moved: a share_no (WeChat out_order_no) or a
   * return's return_no (WeChat sends the out_return_no in out_order_no). */
  share_no: string;
  /** The provider's transaction id of the paid attempt the order splits. */
  channel_trade_no: string;
}

export type ParsedNotification = PaymentNotification | RefundNotification | ProfitSharingNotification;

export interface RefundRequest {
  /** The provider's out_refund_no: the channel refuses a second refund with it. */
  refund_id: string;
  attempt: AttemptRef;
  /** The provider's transaction id of the paid attempt, when known. */
  channel_trade_no?: string;
  amount_minor: bigint;
  reason: string;
  notify_url: string;
  /** When the refund was first sent (persisted with it); see PayRequest.requested_at. */
  requested_at?: Date;
  /** The receivers' shares this refund takes back at the provider, inside the refund request
   * (Alipay refund_royalty_parameters), for a channel whose profit sharing has
   * `returns_in_refund`: written ahead with the refund (RefundRequested), the same on every
   * resend. Absent or empty: the refund takes nothing back from receivers. */
  share_returns?: readonly ShareReturnLine[];
}

/** One receiver's share a refund takes back inside itself (分账回退 with the refund). */
export interface ShareReturnLine {
  /** The receiver's account at the provider (as it was split to). */
  account: string;
  amount_minor: bigint;
}

export interface RefundRef {
  refund_id: string;
  attempt: AttemptRef;
  /** RefundRequest.requested_at of this refund, when the caller kept it. */
  requested_at?: Date;
}

/** What the provider said about one refund. Only succeeded and failed are final. */
export type RefundStatus =
  | { kind: 'succeeded'; channel_refund_no: string; amount_minor: bigint; refunded_at: Date }
  | { kind: 'pending'; channel_refund_no?: string }
  /** Refused; `retryable` when trying the same refund id again later may succeed
   * (provider busy, merchant balance insufficient for now). */
  | { kind: 'failed'; code: string; message: string; retryable: boolean }
  /** The original route cannot carry it (payer account closed, window passed): pay out
   * by other means. */
  | { kind: 'requires_manual'; code: string; message: string }
  | { kind: 'not_found' };

export interface StatementFile {
  /** wechatpay: the ALL trade bill; bankgw: the bank's statement CSV; alipay: the bill archive
   * (a ZIP of GBK CSVs, 业务明细 among them); unionpay: the 对账文件 archive of the file transfer
   * (a ZIP, its ZM file the day's transactions). */
  format: 'wechatpay' | 'bankgw' | 'alipay' | 'unionpay';
  bytes: Buffer;
}

/** Reads a statement file of one format (StatementFile.format) into rows; throws when the file
 * is not one it can trust. The adapter that downloads a format reconciliation cannot read as
 * it is registers its parser (registerStatementParser); the composition root hands them to
 * core/recon, which never imports an adapter. */
export type StatementParser = (bytes: Buffer, channel_id: string) => StatementRow[] | Promise<StatementRow[]>;

export interface StatementRow {
  channel_id: string;
  /** Our attempt id (the order on the channel). '' on a refund row whose statement names its
   * payment only by the channel's trade number (UnionPay's 原交易查询流水号): reconciliation
   * finds the attempt from `channel_trade_no`. */
  attempt_id: string;
  channel_trade_no: string;
  kind: 'payment' | 'refund';
  amount_minor: bigint;
  fee_minor: bigint;
  currency: string;
  occurred_at: Date;
  /** Refund rows: our refund id (the provider's out_refund_no / out_request_no), when listed. */
  refund_id?: string;
}

export type ChannelErrorKind =
  /** The adapter does not support this operation or product. */
  | 'unsupported'
  /** The provider refused the request before accepting it: it took no money. */
  | 'rejected'
  /** Timeout, connection reset after sending, 5xx, unverifiable answer: outcome unknown. */
  | 'ambiguous'
  /** Nothing left this process (e.g. connection refused): the provider saw nothing. */
  | 'not_sent'
  /** A callback or response failed signature verification or decryption. */
  | 'bad_signature';

export interface ChannelErrorOptions {
  /** A refusal ('rejected') down to the payer, not the channel: balance too low, a payment
   * code stale or invalid, the payer cancelled. Each adapter knows its provider's codes and
   * says so here; the order actor only reads it (a payer decline says nothing about the
   * channel's health). Ignored for any other kind. */
  payer_decline?: boolean;
}

export class ChannelError extends Error {
  override readonly name = 'ChannelError';
  /** See ChannelErrorOptions.payer_decline; always false unless kind is 'rejected'. */
  readonly payer_decline: boolean;
  constructor(
    readonly kind: ChannelErrorKind,
    /** The provider's code (e.g. 'ORDER_NOT_EXIST') or ours ('TIMEOUT', 'UNSUPPORTED'). */
    readonly code: string,
    message: string,
    options: ChannelErrorOptions = {},
  ) {
    super(message);
    this.payer_decline = kind === 'rejected' && options.payer_decline === true;
  }
}

/** A payer element a channel cannot take: `field` is the proto path (`payer.card_token`). The
 * description never repeats the value (payer data stays out of errors and logs). */
export interface PayerProblem {
  field: string;
  description: string;
}

/** A payout (代付) to a bank account. `payout_no` is ours and the provider's key: submitting
 * the same payout_no again is the same payout, never a second one. The account is personal
 * data: sent to the provider, never logged. */
export interface PayoutRequest {
  payout_no: string;
  amount_minor: bigint;
  currency: string;
  bank_code: string;
  account_no: string;
  account_name: string;
  purpose: string;
}

/** What the provider said about a payout. `returned`: paid, then sent back by the receiving
 * bank. `not_found`: the provider has no payout with this number. */
export type PayoutOutcome =
  | { kind: 'processing' }
  | { kind: 'succeeded'; channel_payout_no: string; paid_at: Date }
  | { kind: 'failed'; code: string; message: string }
  | { kind: 'returned'; code: string; channel_payout_no: string }
  | { kind: 'not_found' };

/** One receiver of a profit-sharing order (分账): `account` is the receiver's account at the
 * provider (WeChat: a mchid or openid; Alipay: the bound userId (2088…) or logon id). */
interface ShareReceiver {
  account: string;
  amount_minor: bigint;
  description: string;
  /** The receiver's name as the provider registered it (WeChat: a MERCHANT_ID receiver's full
   * merchant name, required when it is added). Personal data: never logged. */
  name?: string;
}

/** A profit-sharing order at the provider for one paid attempt. `share_no` is ours and the
 * provider's key (WeChat out_order_no, Alipay out_request_no): sending the same share_no again
 * is the same order, never a second one. */
export interface ShareRequest {
  share_no: string;
  attempt: AttemptRef;
  /** The provider's transaction id of the paid attempt (WeChat transaction_id, Alipay trade_no). */
  channel_trade_no: string;
  receivers: readonly ShareReceiver[];
  description: string;
  /** The last order of the payment: the provider unfreezes what it leaves unsplit to the
   * merchant (WeChat unfreeze_unsplit, Alipay extend_params.royalty_finish) and takes no later
   * order of the payment. With no receivers, an unfreeze only (WeChat
   * /v3/profitsharing/orders/unfreeze, Alipay a settle of no royalty_parameters with royalty_finish). */
  finish: boolean;
}

/** What the provider said about a profit-sharing order. `finished`: each receiver's result in
 * the order of the request (true: the share reached it; false: closed, it stays with the
 * merchant). */
export type ShareOutcome =
  | { kind: 'processing' }
  | { kind: 'finished'; channel_share_no: string; received: boolean[] }
  | { kind: 'not_found' };

/** A return of part of one receiver's share (分账回退), before a refund of the payment.
 * `return_no` is ours and the provider's key (WeChat out_return_no). */
export interface ShareReturnRequest {
  return_no: string;
  share_no: string;
  /** The share's order at the provider, as finished answered. */
  channel_share_no: string;
  account: string;
  amount_minor: bigint;
  description: string;
}

export type ShareReturnOutcome =
  | { kind: 'processing' }
  | { kind: 'succeeded' }
  | { kind: 'failed'; code: string; message: string }
  | { kind: 'not_found' };

/** A provider's profit sharing (WeChat Pay 分账, Alipay 交易分账), offered by an adapter whose
 * channel is configured for it; payments on other channels are split inside the ledger
 * (core/splits). Every method throws ChannelError: rejected (nothing done) or ambiguous (query it). */
export interface ProfitSharing {
  /** The provider takes receivers' shares back inside the refund request (Alipay
   * refund_royalty_parameters), not by separate returns: the refund carries them
   * (RefundRequest.share_returns) and returnShare / queryReturn are not used. Absent: separate
   * returns before the refund (WeChat return-orders). */
  readonly returns_in_refund?: boolean;
  /** The provider needs each receiver's name (ShareReceiver.name) to take a split. */
  readonly receiver_name_required?: boolean;
  share(request: ShareRequest): Promise<ShareOutcome>;
  /** The order `request` made (its receivers are how the answer is read). */
  queryShare(request: ShareRequest): Promise<ShareOutcome>;
  returnShare(request: ShareReturnRequest): Promise<ShareReturnOutcome>;
  queryReturn(return_no: string, share_no: string): Promise<ShareReturnOutcome>;
}

export interface Channel {
  readonly channel_id: string;
  readonly provider: string;
  readonly products: readonly ProductName[];
  /** How long after payment and how many times a payment may be refunded through this
   * channel; beyond it a refund needs a manual payout. Absent: the actor's default. */
  readonly refund_policy?: { window_days: number; count_max: number };
  /** Whether this channel can take a payment with these payer elements at all (e.g. a
   * payment code of another provider); routing skips it when false. Absent: yes. */
  accepts?(product: ProductName, payer: PayerElements): boolean;
  /** What in the payer's elements this channel cannot take for the product (its own rules,
   * beyond the edge's generic ones): routing skips the channel, and when no channel is left
   * the payment is refused INVALID_ARGUMENT naming the field, before anything is stored. */
  payerProblems?(product: ProductName, payer: PayerElements): PayerProblem[];
  pay(request: PayRequest): Promise<AttemptStatus>;
  /** Completes an attempt left at action_required SMS_CODE (channels that have a step-up). */
  confirm?(request: ConfirmRequest): Promise<AttemptStatus>;
  /** Card binding (绑卡/开通, UnionPay quick pay): asks the provider to text the cardholder a
   * code for opening the card. Throws ChannelError (rejected: the card or its elements). */
  bindCard?(request: BindCardRequest): Promise<{ phone_hint: string }>;
  /** Completes a binding with the cardholder's code: the card token the provider issued.
   * A wrong code throws ChannelError rejected with code WRONG_CODE (the binding stays open). */
  confirmBinding?(request: BindCardRequest & { verification_code: string }): Promise<{ card_token: string }>;
  /** Deletes a card token at the provider (it can pay no more). */
  unbindCard?(card_token: string, request: { binding_id: string; requested_at: Date }): Promise<void>;
  query(attempt: AttemptRef): Promise<AttemptStatus>;
  close(attempt: AttemptRef): Promise<CloseOutcome>;
  refund(request: RefundRequest): Promise<RefundStatus>;
  queryRefund(ref: RefundRef): Promise<RefundStatus>;
  /** Verifies (and decrypts) a provider callback. Throws ChannelError 'bad_signature'. */
  parseNotification(notification: IncomingNotification): ParsedNotification;
  /** The provider's expected answer to a callback we accepted (true) or refused (false). */
  notificationAnswer(accepted: boolean): HttpAnswer;
  downloadStatement(date: string): Promise<StatementRow[]>;
  /** A payout to a bank account (channels with a payout product). Throws ChannelError:
   * rejected (nothing done) or ambiguous (query it). */
  payout?(request: PayoutRequest): Promise<PayoutOutcome>;
  queryPayout?(payout_no: string): Promise<PayoutOutcome>;
  /** The provider's profit sharing, when this channel is configured for it (core/splits). */
  readonly profit_sharing?: ProfitSharing;
  /** The statement of a date as the provider sent it, checked (digest, signature) but not
   * parsed: reconciliation keeps the file with its hash (core/recon). `format` names the parser
   * that reads it; an empty `bytes` is a day without a single trade. */
  downloadStatementFile?(date: string): Promise<StatementFile>;
  close_connections(): Promise<void>;
}

export interface ChannelConfig {
  channel_id: string;
  provider: string;
  products: ProductName[];
  /** Provider-specific settings (keys, ids, base URL), validated by the factory. */
  settings: Record<string, string>;
  /** How long CreatePayment waits for this channel's create before answering with the pending
   * payment (next action POLL); the call goes on and its answer is applied when it comes. */
  create_deadline_ms?: number;
}

export type ChannelFactory = (config: ChannelConfig) => Channel;

const factories = new Map<string, ChannelFactory>();

/** Adapters call this at module load: `registerChannel('wechatpay', create)`. */
export function registerChannel(provider: string, factory: ChannelFactory): void {
  if (factories.has(provider)) throw new Error(`channel provider registered twice: ${provider}`);
  factories.set(provider, factory);
}

const statement_parsers = new Map<string, StatementParser>();

/** Adapters call this at module load for a statement format they download: `registerStatementParser('wechatpay', parse)`. */
export function registerStatementParser(format: string, parser: StatementParser): void {
  if (statement_parsers.has(format)) throw new Error(`statement parser registered twice: ${format}`);
  statement_parsers.set(format, parser);
}

/** The registered statement parsers by format (a copy). */
export function statementParsers(): ReadonlyMap<string, StatementParser> {
  return new Map(statement_parsers);
}

export function createChannel(config: ChannelConfig): Channel {
  const factory = factories.get(config.provider);
  if (factory === undefined) {
    throw new Error(`channel ${config.channel_id}: unknown provider '${config.provider}'`);
  }
  return factory(config);
}

export function unsupported(channel_id: string, operation: string): ChannelError {
  return new ChannelError('unsupported', 'UNSUPPORTED', `channel ${channel_id} does not support ${operation}`);
}
