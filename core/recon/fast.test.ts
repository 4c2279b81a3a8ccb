import fc from 'fast-check';
import { parseStatement, STATEMENT_COLUMNS } from '../../channels/bankgw/transformers';
import { formatYuan, parseYuan } from '../../channels/shared/http';
import { matchShard } from './fast';
import { BANKGW_COLUMNS, decodeRow, encodeRow, isRowLine, lineEnd, lineRanges, RECON_COLUMNS, RowFormatError, yuanMinor, integerMinor } from './format';
import { matchRows } from './match';
import { case_arbitrary, caseOf, day, pool_days } from './recon.fixture';
import type { MatchResult, ReconRow } from './types';

/** A channel row of the day as the bank writes it. */
function bankLine(row: ReconRow): string {
  const payment = row.kind === 'payment';
  return [
    '20261120120000', payment ? 'PAY' : 'REFUND', row.group, payment ? row.trade_no : `B${row.group}`, payment ? '' : row.ref, payment ? '' : row.trade_no,
    formatYuan(row.amount_minor), formatYuan(row.fee_minor ?? 0n), row.currency, 'ICBC', 'B2C',
  ].join(',');
}

function offsetsOf(bytes: Buffer, format: 'recon' | 'bankgw'): Uint32Array {
  const offsets: number[] = [];
  for (let start = 0; start < bytes.length; ) {
    const end = lineEnd(bytes, start, bytes.length);
    if (isRowLine(bytes, start, end, format)) offsets.push(start);
    start = end + 1;
  }
  return Uint32Array.from(offsets);
}

const canonical = (result: MatchResult) => ({
  differences: result.differences.map((d) => `${d.group}|${d.class}|${d.kind}|${d.channel.length}|${d.ours.length}`).sort(),
  pool: result.pool.map((r) => `${r.group}|${r.side}|${r.ref}|${r.amount_minor}`).sort(),
  totals: result.totals,
});

describe('recon - fast path and formats', () => {
  test('recon - matching from the bytes (fast path) gives what decoding every row and matchRows give', () => {
    fc.assert(
      fc.property(fc.array(case_arbitrary, { maxLength: 30 }), fc.boolean(), (specs, bank_format) => {
        const rows = specs.flatMap((spec, index) => caseOf(`g${index}`, spec.injection, spec.amount_minor, spec.fee_minor, spec.delta, spec.age_days).rows);
        // The day's channel rows in the bank's own format (when chosen), everything else normalised.
        const as_bank = (r: ReconRow) => bank_format && r.side === 'C' && r.date === day && r.status === 'S' && r.fee_minor !== undefined && (r.kind === 'payment' ? r.ref === r.group : true);
        const bank = Buffer.from(`${STATEMENT_COLUMNS.join(',')}\n${rows.filter(as_bank).map(bankLine).join('\n')}\n#total\n`);
        const recon = Buffer.from(`${RECON_COLUMNS.join(',')}\n${rows.filter((r) => !as_bank(r)).map(encodeRow).join('\n')}\n`);
        const fast = matchShard([{ buffer: bank, format: 'bankgw', date: day, offsets: offsetsOf(bank, 'bankgw') }, { buffer: recon, format: 'recon', date: day, offsets: offsetsOf(recon, 'recon') }], { day, pool_days });
        expect(canonical(fast)).toEqual(canonical(matchRows(rows, { day, pool_days })));
      }),
      { numRuns: 200 },
    );
  });

  test('recon - a bank statement row reads as the bank adapter reads it', () => {
    const line = fc.record({
      type: fc.constantFrom('PAY', 'REFUND'), order_no: fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/), trade: fc.stringMatching(/^[A-Z0-9]{0,12}$/),
      refund_no: fc.stringMatching(/^[A-Za-z0-9]{0,12}$/), amount: fc.bigInt({ min: 0n, max: 10n ** 15n }), fee: fc.bigInt({ min: -(10n ** 6n), max: 10n ** 6n }),
      quoted: fc.boolean(), currency: fc.constantFrom('CNY', 'USD'),
    });
    fc.assert(
      fc.property(line, (l) => {
        const fields = ['20261120093000', l.type, l.order_no, l.trade, l.refund_no, l.trade, formatYuan(l.amount), formatYuan(l.fee), l.currency, 'ICBC', l.quoted ? '"B2C, web"' : 'B2C'];
        const text = `${STATEMENT_COLUMNS.join(',')}\n${fields.join(',')}\n`;
        const [expected] = parseStatement(text, 'bankgw');
        const bytes = Buffer.from(text);
        const [offset] = offsetsOf(bytes, 'bankgw');
        const row = decodeRow(bytes, offset!, lineEnd(bytes, offset!, bytes.length), 'bankgw', day);
        expect({ amount: row.amount_minor, fee: row.fee_minor, currency: row.currency, kind: row.kind, group: row.group })
          .toEqual({
            amount: expected!.amount_minor, fee: expected!.fee_minor, currency: expected!.currency, kind: expected!.kind, group: expected!.attempt_id,
          });
        expect(row.ref).toBe(l.type === 'PAY' ? expected!.attempt_id : expected!.refund_id ?? '');
      }),
    );
  });

  test('recon - yuan and integer amounts read exactly, as parseYuan and BigInt read them', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 17n) + 1n, max: 10n ** 17n - 1n }), (minor) => {
        const text = formatYuan(minor);
        expect(yuanMinor(text, 'amount', 0)).toBe(parseYuan(text));
        expect(integerMinor(String(minor), 'amount_minor', 0)).toBe(minor);
      }),
    );
    expect(yuanMinor('7', 'amount', 0)).toBe(700n);
    expect(yuanMinor('0.5', 'amount', 0)).toBe(50n);
  });

  test('recon - a bad row is refused with the field named', () => {
    for (const [text, field] of [['1.234', 'amount'], ['1.', 'amount'], ['.5', 'amount'], ['1e3', 'amount'], ['', 'amount']] as const) {
      expect(() => yuanMinor(text, field, 9)).toThrow(new RowFormatError(`row at byte 9: amount is not an amount in yuan with at most 2 decimals: ${JSON.stringify(text)}`));
    }
    const bytes = Buffer.from(`${RECON_COLUMNS.join(',')}\nO,payment,g1,g1,T1,12x,1,CNY,S,2026-11-20\nX,payment,g1,g1,T1,12,1,CNY,S,2026-11-20\n`);
    const [first, second] = offsetsOf(bytes, 'recon');
    expect(() => decodeRow(bytes, first!, lineEnd(bytes, first!, bytes.length), 'recon', day)).toThrow(/amount_minor is not an integer/);
    expect(() => decodeRow(bytes, second!, lineEnd(bytes, second!, bytes.length), 'recon', day)).toThrow(/side must be C or O/);
    expect(() => encodeRow({ side: 'O', kind: 'payment', group: 'a,b', ref: '', trade_no: '', amount_minor: 1n, fee_minor: undefined, currency: 'CNY', status: 'S', date: day })).toThrow(/group has a comma/);
  });

  test('recon - the bank columns are the bank adapter\'s', () => {
    expect([...BANKGW_COLUMNS]).toEqual([...STATEMENT_COLUMNS]);
  });

  test('recon - line ranges cover the bytes once and end at line ends', () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[a-z]{0,30}$/), { maxLength: 50 }), fc.integer({ min: 1, max: 8 }), (lines, parts) => {
        const bytes = Buffer.from(lines.map((l) => `${l}\n`).join(''));
        const ranges = lineRanges(bytes, parts);
        let at = 0;
        for (const [start, end] of ranges) {
          expect(start).toBe(at);
          expect(end === bytes.length || bytes[end - 1] === 0x0a).toBe(true);
          at = end;
        }
        expect(at).toBe(bytes.length);
      }),
    );
  });
});
