// The sandbox's bills: which ledger entries a statement date lists (with statement faults:
// rows missing, rows added, a wrong amount, an entry cut off into the next day's bill) and
// how each provider writes them — the WeChat Pay ALL trade bill (backtick-prefixed CSV, 27
// columns, summary rows) and the Alipay 业务明细 (GBK CSV with `#` comments, zipped). Pure.

import { encode } from 'iconv-lite';
import { chinaDate, chinaDateTime, csvField, formatYuan } from './protocol/formats';
import { writeZip } from './zip-writer';
import { feeOf, nextDate } from './core';

/** GBK as Alipay writes its bill (a character GBK lacks becomes '?', as Windows tools write
 * it), with iconv-lite: the sandbox's own encoder, not the adapter's decoder inverted. */
const encodeGbk = (text: string): Buffer => encode(text, 'gbk');

// The bills' header rows as the providers document them (the sandbox's own copy: the adapters
// read the same files by these names, so a mistake in their lists is not repeated here).
// WeChat Pay 交易账单 (ALL), its summary; Alipay 业务明细.
const WECHAT_COLUMNS = [
  '交易时间', '公众账号ID', '商户号', '特约商户号', '设备号', '微信订单号', '商户订单号', '用户标识', '交易类型', '交易状态',
  '付款银行', '货币种类', '应结订单金额', '代金券金额', '微信退款单号', '商户退款单号', '退款金额', '充值券退款金额', '退款类型',
  '退款状态', '商品名称', '商户数据包', '手续费', '费率', '订单金额', '申请退款金额', '费率备注',
];
const WECHAT_SUMMARY_COLUMNS = ['总交易单数', '应结订单总金额', '退款总金额', '充值券退款总金额', '手续费总金额', '订单总金额', '申请退款总金额'];
const ALIPAY_COLUMNS = [
  '支付宝交易号', '商户订单号', '业务类型', '商品名称', '创建时间', '完成时间', '门店编号', '门店名称', '操作员', '终端号',
  '对方账户', '订单金额（元）', '商家实收（元）', '支付宝红包（元）', '集分宝（元）', '支付宝优惠（元）', '商家优惠（元）',
  '券核销金额（元）', '券名称', '商家红包消费金额（元）', '卡消费金额（元）', '退款批次号/请求号', '服务费（元）', '分润（元）', '备注',
];

/** One money movement the provider would list in a bill. */
export interface LedgerEntry {
  /** mchid (WeChat) or app_id (Alipay): whose bill lists it. */
  merchant: string;
  kind: 'payment' | 'refund';
  out_trade_no: string;
  /** WeChat transaction_id / Alipay trade_no. */
  trade_no: string;
  out_refund_no?: string;
  /** WeChat refund_id. */
  refund_no?: string;
  /** Payment: the order total; refund: the amount refunded. */
  amount_fen: bigint;
  order_total_fen: bigint;
  at: Date;
  /** Alipay 创建时间 of the trade. */
  created_at: Date;
  subject: string;
  trade_type: string;
  /** openid (WeChat) / masked buyer account (Alipay). */
  payer: string;
}

export interface StatementFaultEffect {
  missing: boolean;
  amount_delta_fen: bigint;
  next_day: boolean;
}

export interface BillRow extends LedgerEntry {
  fee_fen: bigint;
}

/**
 * The rows of `date`'s bill: entries whose China date is `date` (or the day before, when a
 * cut-off fault pushes them into the next bill), minus missing ones, amounts shifted by the
 * fault's delta, plus `extra_rows` phantom payments the merchant never made.
 */
export function billRows(
  entries: Iterable<LedgerEntry>, date: string, fault: (entry: LedgerEntry) => StatementFaultEffect, extra_rows: number,
): BillRow[] {
  const rows: BillRow[] = [];
  for (const entry of entries) {
    const effect = fault(entry);
    const listed_on = effect.next_day ? nextDate(chinaDate(entry.at)) : chinaDate(entry.at);
    if (listed_on !== date || effect.missing) continue;
    const amount_fen = entry.amount_fen + effect.amount_delta_fen;
    rows.push({ ...entry, amount_fen, fee_fen: feeOf(amount_fen < 0n ? -amount_fen : amount_fen) });
  }
  const noon = new Date(`${date}T12:00:00+08:00`);
  for (let index = 1; index <= extra_rows; index++) {
    const amount_fen = BigInt(100 * index + 1);
    rows.push({
      merchant: 'sandbox', kind: 'payment', out_trade_no: `SANDBOXEXTRA${date.replace(/-/g, '')}${index}`, trade_no: `9999${date.replace(/-/g, '')}${String(index).padStart(16, '0')}`,
      amount_fen, order_total_fen: amount_fen, at: noon, created_at: noon, subject: 'sandbox phantom row', trade_type: 'NATIVE', payer: 'sandbox',
      fee_fen: feeOf(amount_fen),
    });
  }
  return rows.sort((a, b) => a.at.getTime() - b.at.getTime());
}

// ---------------------------------------------------------------------------------------------
// WeChat Pay trade bill (bill_type ALL)

export function wechatTradeBill(rows: readonly BillRow[], merchant: { appid: string; mchid: string }): string {
  const tick = (value: string) => `\`${csvField(value)}`;
  const lines = [WECHAT_COLUMNS.join(',')];
  let payments = 0n;
  let refunds = 0n;
  let fees = 0n;
  for (const row of rows) {
    const refund = row.kind === 'refund';
    const fee = refund ? -row.fee_fen : row.fee_fen;
    if (refund) refunds += row.amount_fen;
    else payments += row.amount_fen;
    fees += fee;
    lines.push([
      chinaDateTime(row.at), merchant.appid, merchant.mchid, '0', '', row.trade_no, row.out_trade_no, row.payer, row.trade_type,
      refund ? 'REFUND' : 'SUCCESS', 'OTHERS', 'CNY', formatYuan(refund ? row.order_total_fen : row.amount_fen), '0.00',
      refund ? row.refund_no ?? '' : '0', refund ? row.out_refund_no ?? '' : '0', formatYuan(refund ? row.amount_fen : 0n), '0.00',
      refund ? 'ORIGINAL' : '', refund ? 'SUCCESS' : '', row.subject, '', formatYuan(fee), '0.60%',
      formatYuan(refund ? row.order_total_fen : row.amount_fen), formatYuan(refund ? row.amount_fen : 0n), '',
    ].map(tick).join(','));
  }
  lines.push(WECHAT_SUMMARY_COLUMNS.join(','));
  lines.push([String(rows.length), formatYuan(payments), formatYuan(refunds), '0.00', formatYuan(fees), formatYuan(payments), formatYuan(refunds)].map(tick).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

// ---------------------------------------------------------------------------------------------
// Alipay 业务明细 (zipped GBK CSV)

export function alipayBillArchive(rows: readonly BillRow[], seller_id: string, date: string, exported_at: Date): { file_name: string; archive: Buffer } {
  const compact = date.replace(/-/g, '');
  const chinese = (day: string) => `${day.slice(0, 4)}年${day.slice(5, 7)}月${day.slice(8, 10)}日`;
  const lines = [
    '#支付宝业务明细查询',
    `#账号：[${seller_id}0156]`,
    `#起始日期：[${chinese(date)} 00:00:00]   终止日期：[${chinese(nextDate(date))} 00:00:00]`,
    '#-----------------------------------------业务明细列表----------------------------------------',
    ALIPAY_COLUMNS.join(','),
  ];
  let paid = 0n;
  let refunded = 0n;
  let paid_count = 0;
  let refund_count = 0;
  for (const row of rows) {
    const refund = row.kind === 'refund';
    if (refund) {
      refunded += row.amount_fen;
      refund_count += 1;
    } else {
      paid += row.amount_fen;
      paid_count += 1;
    }
    const fields = [
      row.trade_no, row.out_trade_no, refund ? '退款' : '交易', row.subject, chinaDateTime(row.created_at), chinaDateTime(row.at),
      '', '', '', '', row.payer, formatYuan(refund ? row.order_total_fen : row.amount_fen),
      formatYuan(refund ? -row.amount_fen : row.amount_fen), '0.00', '0.00', '0.00', '0.00', '0.00', '', '0.00', '0.00',
      refund ? row.out_refund_no ?? '' : '', formatYuan(refund ? row.fee_fen : -row.fee_fen), '0.00', '',
    ];
    lines.push(fields.map((field) => `${csvField(field)}\t`).join(','));
  }
  lines.push(
    '#-----------------------------------------业务明细列表结束------------------------------------',
    `#交易合计：${paid_count}笔，商家实收共${formatYuan(paid)}元，商家优惠共0.00元`,
    `#退款合计：${refund_count}笔，商家实收退款共${formatYuan(-refunded)}元，商家优惠退款共0.00元`,
    `#导出时间：[${chineseTime(exported_at)}]`,
  );
  const summary = [
    '#支付宝业务汇总查询',
    `#账号：[${seller_id}0156]`,
    '门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）',
    `合计,,${paid_count},${refund_count},${formatYuan(paid)},${formatYuan(paid - refunded)}`,
    `#导出时间：[${chineseTime(exported_at)}]`,
  ];
  const detail_name = `${seller_id}0156_${compact}_业务明细.csv`;
  const summary_name = `${seller_id}0156_${compact}_业务明细(汇总).csv`;
  const archive = writeZip([
    { name: detail_name, data: encodeGbk(`${lines.join('\r\n')}\r\n`), gbk_name: encodeGbk(detail_name) },
    { name: summary_name, data: encodeGbk(`${summary.join('\r\n')}\r\n`), gbk_name: encodeGbk(summary_name) },
  ]);
  return { file_name: `${seller_id}0156_${compact}.csv.zip`, archive };
}

function chineseTime(date: Date): string {
  const text = chinaDateTime(date);
  return `${text.slice(0, 4)}年${text.slice(5, 7)}月${text.slice(8, 10)}日 ${text.slice(11)}`;
}

// ---------------------------------------------------------------------------------------------
// UnionPay 对账文件 (the file transfer's archive): the ZM file INN<yyMMdd>88ZM_<merId>, one
// transaction a line, fixed-width fields separated by one space (written here from the
// sandbox's own table, as UnionPay's file interface lays them out).

/** [width, numeric (zero-filled on the left) or text (space-filled on the right)]. */
const zm_layout: readonly [string, number, 'n' | 'a'][] = [
  ['交易代码', 3, 'a'], ['代理机构标识码', 11, 'n'], ['发送机构标识码', 11, 'n'], ['系统跟踪号', 6, 'n'], ['交易传输时间', 10, 'n'], ['帐号', 19, 'a'],
  ['交易金额', 12, 'n'], ['商户类别', 4, 'n'], ['终端类型', 2, 'n'], ['查询流水号', 21, 'a'], ['支付方式（旧）', 2, 'a'], ['商户订单号', 32, 'a'],
  ['支付卡类型', 2, 'n'], ['原始交易的系统跟踪号', 6, 'a'], ['原始交易日期时间', 10, 'a'], ['商户手续费', 13, 'a'], ['结算金额', 13, 'a'], ['支付方式', 4, 'a'],
  ['集团商户代码', 15, 'a'], ['交易类型', 2, 'n'], ['交易子类', 2, 'n'], ['业务类型', 6, 'n'], ['帐号类型', 2, 'n'], ['账单类型', 4, 'a'], ['账单号码', 32, 'a'],
  ['交互方式', 1, 'n'], ['原交易查询流水号', 21, 'a'], ['商户代码', 15, 'a'], ['分账入账方式', 1, 'a'],
];

function zmLine(values: Record<string, string>): string {
  return zm_layout.map(([name, width, kind]) => {
    const value = values[name] ?? '';
    if (value.length > width) throw new Error(`sandbox ZM field ${name}: ${value.length} characters, at most ${width}`);
    return kind === 'n' ? value.padStart(width, '0') : value.padEnd(width, ' ');
  }).join(' ');
}

/** MMDDhhmmss, China time. */
function transmissionTime(at: Date): string {
  return chinaDateTime(at).replace(/[-: ]/g, '').slice(4, 14);
}

export function unionpayFileArchive(rows: readonly BillRow[], mer_id: string, date: string): Buffer {
  const compact = date.replace(/-/g, '').slice(2);
  const lines = rows.map((row, index) => {
    const refund = row.kind === 'refund';
    const fen = (value: bigint) => value.toString().padStart(12, '0');
    return zmLine({
      交易代码: refund ? 'S30' : 'S22', 代理机构标识码: '00010000', 发送机构标识码: '00010000', 系统跟踪号: String(index + 1), 交易传输时间: transmissionTime(row.at),
      帐号: row.payer, 交易金额: fen(row.amount_fen), 商户类别: '5999', 终端类型: '07', 查询流水号: (refund ? row.refund_no ?? '' : row.trade_no).slice(-21), 商户订单号: refund ? row.out_refund_no ?? '' : row.out_trade_no,
      支付卡类型: '01', 商户手续费: `${refund ? 'C' : 'D'}${fen(row.fee_fen)}`, 结算金额: `${refund ? 'D' : 'C'}${fen(row.amount_fen - row.fee_fen)}`, 支付方式: '0000',
      交易类型: refund ? '04' : '01', 交易子类: refund ? '00' : '01', 业务类型: '000902', 帐号类型: '01', 交互方式: '1', 原交易查询流水号: refund ? row.trade_no.slice(-21) : '', 商户代码: mer_id,
    });
  });
  const zm = Buffer.from(lines.length === 0 ? '' : `${lines.join('\r\n')}\r\n`, 'latin1');
  return writeZip([{ name: `INN${compact}88ZM_${mer_id}`, data: zm }]);
}
