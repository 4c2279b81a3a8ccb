// The posting table against its documentation: core/ledger/README.md's chart of accounts
// (normal side, owner) and its posting rules (which accounts each transaction code debits
// and credits) are read here and every code's lines are compared with them, leg by leg. The
// amount each leg carries is written out below from the same README's descriptions.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { default_book_settings, linesOf, normal_side, platform_owner, type Line, type TxnCode } from './rules';

const readme = readFileSync(path.join(__dirname, 'README.md'), 'utf8');

/** The rows of the markdown table that follows `heading`, as trimmed cells (header and rule skipped). */
function tableAfter(heading: string): string[][] {
  const at = readme.indexOf(`\n${heading}\n`);
  if (at === -1) throw new Error(`README.md has no "${heading}"`);
  const lines = readme.slice(at + heading.length + 2).split('\n');
  const start = lines.findIndex((line) => line.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(line.slice(1, -1).split('|').map((cell) => cell.trim()));
  }
  return rows;
}

const unquote = (cell: string): string => cell.replace(/`/g, '').trim();

interface ChartRow {
  side: 'debit' | 'credit';
  /** merchant, channel or platform; a split receiver's account is owned by the receiver. */
  owner: string;
}

const chart = new Map<string, ChartRow>(tableAfter('## Chart of accounts').map(([code, , side, , owner]) => [unquote(code!), { side: side as ChartRow['side'], owner: owner! }]));

/** Accounts named in a debit or credit cell, each with the description in its parentheses
 * (a transfer's "(payee)" names the other merchant as the owner). */
const accountsOf = (cell: string): Array<{ account: string; note: string }> =>
  [...cell.matchAll(/([a-z_]+)\s*(?:\(([^)]*)\))?/g)].map((m) => ({ account: m[1]!, note: m[2] ?? '' })).filter((a) => chart.has(a.account));

/** code → [debited accounts, credited accounts]; a row naming two codes (`HOLD` / `RELEASE`) gives each its half. */
const documented = new Map<string, { debit: ReturnType<typeof accountsOf>; credit: ReturnType<typeof accountsOf> }>();
for (const [codes, , debit, credit] of tableAfter('## Posting rules (per transaction code)')) {
  const names = codes!.split('/').map(unquote);
  const debits = names.length === 1 ? [debit!] : debit!.split(' / ');
  const credits = names.length === 1 ? [credit!] : credit!.split(' / ');
  names.forEach((name, index) => documented.set(name, { debit: accountsOf(debits[index]!), credit: accountsOf(credits[index]!) }));
}

// Every transaction code the rules know (the compiler holds this list to TxnCode), and the
// amount its legs carry. PAYMENT's legs carry three: the gross on its one side, the net and the
// merchant fee on the other (PAYMENT_REVERSED the same, sides swapped).
const carried: Record<TxnCode, 'gross' | 'channel_fee' | 'fee_returned' | 'payment'> = {
  PAYMENT: 'payment',
  CHANNEL_FEE: 'channel_fee',
  PAYMENT_REVERSED: 'payment',
  PAYMENT_REVERSED_CHANNEL_FEE: 'channel_fee',
  REFUND: 'gross',
  REFUND_SETTLED: 'gross',
  REFUND_REVERSED: 'gross',
  CHANNEL_FEE_RETURN: 'channel_fee',
  REFUND_FEE_RETURN: 'fee_returned',
  DUPLICATE: 'gross',
  DUPLICATE_REFUND: 'gross',
  DUPLICATE_REFUND_REVERSED: 'gross',
  DUPLICATE_CHANNEL_FEE: 'channel_fee',
  DUPLICATE_CHANNEL_FEE_RETURN: 'channel_fee',
  SETTLEMENT: 'gross',
  HOLD: 'gross',
  RELEASE: 'gross',
  RECON_SUSPENSE: 'gross',
  RECON_RESOLVE: 'gross',
  PAYOUT_FREEZE: 'gross',
  PAYOUT_RELEASE: 'gross',
  PAYOUT_SENT: 'gross',
  PAYOUT_RETURNED: 'gross',
  TRANSFER: 'gross',
  REFUND_PAYOUT_SETTLED: 'gross',
  SPLIT: 'gross',
  SPLIT_RETURN: 'gross',
  SPLIT_RETURN_REVERSED: 'gross',
  MEMBER_CREDIT: 'gross',
  SPLIT_TO_MEMBER: 'gross',
  SPLIT_RETURN_MEMBER: 'gross',
  SPLIT_RETURN_MEMBER_REVERSED: 'gross',
  MEMBER_DEBIT: 'gross',
  MEMBER_WITHDRAW_FREEZE: 'gross',
  MEMBER_WITHDRAW_RELEASE: 'gross',
  MEMBER_WITHDRAW_SENT: 'gross',
  MEMBER_WITHDRAW_RETURNED: 'gross',
};

// Distinct amounts, so a leg carrying the wrong one shows.
const amounts = { gross: 10_000n, net: 9_940n, merchant_fee: 60n, channel_fee: 25n, fee_returned: 3n };
const parties = { merchant_id: 'm_1', channel_id: 'wx_1', currency: 'CNY', counterparty_id: 'm_2', receiver: 'm_1/r_1' };
const owners: Record<string, string> = { merchant: parties.merchant_id, channel: parties.channel_id, platform: platform_owner };
/** The owner a leg names: the chart's, unless the posting rule says whose (a transfer's payee, the payout's channel). */
const ownerOf = (account: string, note: string): string =>
  note === 'payee' || note === "the payout's channel" ? parties.counterparty_id : (owners[chart.get(account)!.owner] ?? parties.receiver);

/** A posting's lines, in no particular order (the order of legs carries no meaning). */
const show = (lines: readonly Line[]) => lines.map((l) => `${l.code}@${l.owner} D${l.debit_minor} C${l.credit_minor}`).sort();

function expectedLines(code: TxnCode): string[] {
  const legs = documented.get(code)!;
  const amount = (side: 'debit' | 'credit', index: number): bigint => {
    if (carried[code] !== 'payment') return amounts[carried[code]];
    if (legs[side].length === 1) return amounts.gross;
    return index === 0 ? amounts.net : amounts.merchant_fee;
  };
  const line = (side: 'debit' | 'credit') => ({ account, note }: { account: string; note: string }, index: number): string => {
    const owner = ownerOf(account, note);
    const minor = amount(side, index);
    return `${account}@${owner} D${side === 'debit' ? minor : 0n} C${side === 'credit' ? minor : 0n}`;
  };
  return [...legs.debit.map(line('debit')), ...legs.credit.map(line('credit'))].sort();
}

describe('posting rules against core/ledger/README.md', () => {
  test('the chart: every account with its normal side as documented', () => {
    expect(chart.size).toBe(Object.keys(normal_side).length);
    expect(Object.fromEntries([...chart].map(([code, row]) => [code, row.side]))).toEqual(normal_side);
  });

  test('every transaction code is documented, and nothing else is', () => {
    expect([...documented.keys()].sort()).toEqual(Object.keys(carried).sort());
  });

  test.each(Object.keys(carried) as TxnCode[])('%s debits and credits the documented accounts of their owners, each with its amount', (code) => {
    expect(show(linesOf(code, parties, amounts))).toEqual(expectedLines(code));
  });

  test('a negative amount posts on the other side; a zero amount posts no line', () => {
    // Reconciliation: the channel says less than the books (gross < 0) — the legs swap.
    expect(show(linesOf('RECON_SUSPENSE', parties, { gross: -7n }))).toEqual(['channel_receivable@wx_1 D0 C7', 'suspense@platform D7 C0'].sort());
    // A merchant fee above the amount makes the net a debit of the merchant.
    expect(show(linesOf('PAYMENT', parties, { gross: 5n, net: -1n, merchant_fee: 6n }))).toEqual([
      'channel_receivable@wx_1 D5 C0', 'merchant_pending@m_1 D1 C0', 'fee_income@platform D0 C6',
    ].sort());
    expect(show(linesOf('PAYMENT', parties, { gross: 5n, net: 5n, merchant_fee: 0n }))).toEqual(['channel_receivable@wx_1 D5 C0', 'merchant_pending@m_1 D0 C5'].sort());
    expect(linesOf('CHANNEL_FEE', parties, {})).toEqual([]);
  });

  test('a merchant without settings: T+1, the merchant fee kept on refunds, refunds refused beyond the balance', () => {
    expect(default_book_settings).toEqual({ settlement_days: 1, refund_fee_policy: 'kept', refund_funding: 'refuse', overdraft_limit_minor: 0n });
  });
});

