// The providers' names, endpoints, identifier rules and wire shapes as the sandbox speaks
// them, written from each provider's documentation (and channels/<provider>/README.md) rather
// than imported from the adapters: a name or rule an adapter gets wrong is not got wrong the
// same way here, and the adapters' tests against the sandbox notice it. The lint forbids the
// sandbox any import from channels/ (tools/lint/eslint.config.mjs).

// ---- WeChat Pay (API v3) ----------------------------------------------------------------------

/** `description`: at most 127 characters. */
export const wechat_description_chars_max = 127;
/** out_trade_no / out_refund_no: 6 to 32 of digits, letters, `_-|*`. */
export const wechat_out_trade_no_pattern = /^[0-9A-Za-z_\-|*]{6,32}$/;

export type WechatTradeType = 'NATIVE' | 'JSAPI' | 'APP' | 'MWEB';

/** The body of `POST /v3/pay/transactions/{native|jsapi|app|h5}`. */
export interface WechatCreateOrderRequest {
  appid: string;
  mchid: string;
  description: string;
  out_trade_no: string;
  time_expire: string;
  notify_url: string;
  /** total: fen, an integer. */
  amount: { total: number; currency: string };
  payer?: { openid: string };
  scene_info?: { payer_client_ip: string; h5_info?: { type: 'Wap' | 'iOS' | 'Android' } };
  /** profit_sharing: the paid amount stays frozen for profit sharing (分账). */
  settle_info?: { profit_sharing: boolean };
}

/** The query answer and the decrypted TRANSACTION.* callback resource. */
export interface WechatTransaction {
  appid?: string;
  mchid?: string;
  out_trade_no: string;
  transaction_id?: string;
  trade_type?: string;
  /** SUCCESS, REFUND, NOTPAY, CLOSED, REVOKED, USERPAYING, PAYERROR. */
  trade_state: string;
  trade_state_desc?: string;
  bank_type?: string;
  attach?: string;
  /** RFC 3339, e.g. 2018-06-08T10:34:56+08:00. */
  success_time?: string;
  payer?: { openid?: string };
  amount?: { total?: number; payer_total?: number; currency?: string; payer_currency?: string };
}

/** The refund answer / query answer (`status`) and the decrypted REFUND.* resource (`refund_status`). */
export interface WechatRefund {
  mchid?: string;
  refund_id: string;
  out_refund_no: string;
  transaction_id?: string;
  out_trade_no?: string;
  channel?: string;
  user_received_account?: string;
  success_time?: string;
  create_time?: string;
  /** SUCCESS, CLOSED, PROCESSING, ABNORMAL. */
  status?: string;
  refund_status?: string;
  amount?: {
    total?: number; refund?: number; payer_total?: number; payer_refund?: number; settlement_refund?: number;
    settlement_total?: number; discount_refund?: number; currency?: string;
  };
}

// ---- Alipay (open platform) -------------------------------------------------------------------

/** out_trade_no / out_request_no: up to 64 letters, digits and underscores. */
export const alipay_out_trade_no_pattern = /^[0-9A-Za-z_]{1,64}$/;
/** Payment codes: 25–30 followed by 14–22 digits (16 to 24 digits in all). */
export const alipay_auth_code_pattern = /^(2[5-9]|30)\d{14,22}$/;

export const ALIPAY_METHODS = {
  precreate: 'alipay.trade.precreate',
  pay: 'alipay.trade.pay',
  app: 'alipay.trade.app.pay',
  wap: 'alipay.trade.wap.pay',
  page: 'alipay.trade.page.pay',
  query: 'alipay.trade.query',
  close: 'alipay.trade.close',
  cancel: 'alipay.trade.cancel',
  refund: 'alipay.trade.refund',
  refund_query: 'alipay.trade.fastpay.refund.query',
  bill: 'alipay.data.dataservice.bill.downloadurl.query',
  /** 交易分账 (alipay-royalty.ts). */
  royalty_bind: 'alipay.trade.royalty.relation.bind',
  settle: 'alipay.trade.order.settle',
  settle_query: 'alipay.trade.order.settle.query',
} as const;

// ---- UnionPay (全渠道, 无跳转 token payment) ---------------------------------------------------

export const UNIONPAY_ENDPOINTS = {
  /** 后台交易: 消费短信, 消费, 退货, 开通, 删除标记. */
  back_trans: '/gateway/api/backTransReq.do',
  /** 单笔查询. */
  query: '/gateway/api/queryTrans.do',
} as const;

export const UNIONPAY_VERSION = '5.1.0';
/** 无跳转 token payment. */
export const UNIONPAY_BIZ_TYPE_TOKEN = '000902';

/** txnType / txnSubType of each transaction. */
export const UNIONPAY_TXN = {
  sms: { txnType: '77', txnSubType: '02' },
  consume: { txnType: '01', txnSubType: '01' },
  query: { txnType: '00', txnSubType: '00' },
  refund: { txnType: '04', txnSubType: '00' },
  open_sms: { txnType: '77', txnSubType: '00' },
  open: { txnType: '79', txnSubType: '00' },
  delete_token: { txnType: '74', txnSubType: '01' },
  file_transfer: { txnType: '76', txnSubType: '01' },
} as const;

/** orderId: 8 to 32 letters or digits. */
export const unionpay_order_id_pattern = /^[0-9A-Za-z]{8,32}$/;

// ---- The bank gateway (channels/bankgw/README.md) ---------------------------------------------

export const BANKGW_ENDPOINTS = {
  pay: '/gateway/pay',
  query: '/gateway/query',
  close: '/gateway/close',
  refund: '/gateway/refund',
  refund_query: '/gateway/refund/query',
  statement: '/gateway/statement',
  payout: '/gateway/payout',
  payout_query: '/gateway/payout/query',
} as const;

/** The statement body's signature travels in this header. */
export const BANKGW_STATEMENT_SIGN_HEADER = 'x-bankgw-sign';
/** order_no / refund_no: 6 to 32 letters or digits. */
export const bankgw_order_no_pattern = /^[0-9A-Za-z]{6,32}$/;
export const bankgw_bank_code_pattern = /^[A-Z0-9]{2,16}$/;

export const BANKGW_STATEMENT_COLUMNS = [
  'trade_time', 'type', 'order_no', 'bank_trade_no', 'refund_no', 'bank_refund_no', 'amount', 'fee', 'currency', 'bank_code', 'product',
] as const;
