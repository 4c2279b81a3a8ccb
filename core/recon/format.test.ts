// The row formats at their edges, one table per reader: what a line decodes to or the error
// naming its field, amounts at their digit bounds, which lines are rows, where a line ends,
// which shard a group goes to, and how a file is cut into ranges. fast.test.ts holds the
// readers to the bank adapter's and matchRows' answers on generated rows.

import { decodeRow, encodeRow, encodeRows, integerMinor, isRowLine, lineEnd, lineRanges, RECON_COLUMNS, RowFormatError, shardOf, yuanMinor } from './format';
import type { ReconRow } from './types';

const day = '2026-11-20';
const recon_header = RECON_COLUMNS.join(',');
const bank_header = 'trade_time,type,order_no,bank_trade_no,refund_no,bank_refund_no,amount,fee,currency,bank_code,product';

/** Decodes the one line `text` (no header) as `format`. */
const decode = (text: string, format: 'recon' | 'bankgw' = 'recon'): ReconRow => {
  const bytes = Buffer.from(text);
  return decodeRow(bytes, 0, bytes.length, format, day);
};

const base: ReconRow = { side: 'O', kind: 'payment', group: 'g1', ref: 'a1', trade_no: 'T1', amount_minor: 1234n, fee_minor: 5n, currency: 'CNY', status: 'S', date: day };

describe('recon - the normalised row file', () => {
  test('recon - a row encodes to its fields in column order, an unknown fee as nothing, and decodes back', () => {
    expect(encodeRow(base)).toBe('O,payment,g1,a1,T1,1234,5,CNY,S,2026-11-20');
    expect(encodeRow({ ...base, fee_minor: undefined })).toBe('O,payment,g1,a1,T1,1234,,CNY,S,2026-11-20');
    expect(encodeRows([base, { ...base, side: 'C' }])).toBe(`${recon_header}\nO,payment,g1,a1,T1,1234,5,CNY,S,2026-11-20\nC,payment,g1,a1,T1,1234,5,CNY,S,2026-11-20\n`);
    expect(encodeRows([])).toBe(`${recon_header}\n`);
    for (const row of [base, { ...base, fee_minor: undefined }, { ...base, side: 'C' as const, kind: 'refund' as const, fee_minor: -3n, status: 'D' as const }, { ...base, status: 'F' as const, ref: '', trade_no: '' }]) {
      expect(decode(encodeRow(row))).toEqual(row);
    }
  });

  test.each([
    ['group', { group: 'a,b' }, '"a,b"'],
    ['ref', { ref: 'say "x"' }, '"say \\"x\\""'],
    ['trade_no', { trade_no: 'T\n1' }, '"T\\n1"'],
    ['currency', { currency: 'CN\rY' }, '"CN\\rY"'],
    ['date', { date: '2026,11' }, '"2026,11"'],
  ] as const)('recon - a %s with a comma, quote or line break is refused, naming it', (column, change, shown) => {
    expect(() => encodeRow({ ...base, ...change })).toThrow(new RowFormatError(`recon row: ${column} has a comma, quote or line break: ${shown}`));
  });

  test.each([
    ['a line ending in CR LF', 'O,payment,g1,a1,T1,1234,5,CNY,S,2026-11-20\r', base],
    ['a failed row of ours, no fee', 'O,payment,g1,a1,,1234,,CNY,F,2026-11-20', { ...base, trade_no: '', fee_minor: undefined, status: 'F' }],
    ['a channel refund, its fee returned', 'C,refund,g1,r1,R1,100,-1,CNY,S,2026-11-20', { ...base, side: 'C', kind: 'refund', ref: 'r1', trade_no: 'R1', amount_minor: 100n, fee_minor: -1n }],
    ['a duplicate we detected', 'O,payment,g1,a1,T2,1234,5,CNY,D,2026-11-20', { ...base, trade_no: 'T2', status: 'D' }],
    ['a quoted line, fields trimmed (the last too), "" a quote', 'O,payment, "g1" ,"a ""1""",T1,1234,5,CNY,S, 2026-11-20 ', { ...base, ref: 'a "1"' }],
    ['a quote inside an unquoted field is a character of it', 'O,payment,g1,a"1,T1,1234,5,CNY,S,2026-11-20', { ...base, ref: 'a"1' }],
    ['a quoted comma', 'O,payment,g1,"a,1",T1,1234,5,CNY,S,2026-11-20', { ...base, ref: 'a,1' }],
  ] as const)('recon - %s decodes', (_name, line, expected) => {
    expect(decode(line)).toEqual(expected);
  });

  test.each([
    ['9 fields', 'O,payment,g1,a1,T1,1234,5,CNY,S', 'recon row at byte 0: 9 fields, expected 10'],
    ['11 fields', 'O,payment,g1,a1,T1,1234,5,CNY,S,2026-11-20,x', 'recon row at byte 0: 11 fields, expected 10'],
    ['17 fields (read, then counted)', 'O,payment,g1,a1,T1,1234,5,CNY,S,2026-11-20,a,b,c,d,e,f,g', 'recon row at byte 0: 17 fields, expected 10'],
    ['18 fields (no more read)', 'O,payment,g1,a1,T1,1234,5,CNY,S,2026-11-20,a,b,c,d,e,f,g,h', 'row at byte 0: more than 16 fields'],
    ['side X', 'X,payment,g1,a1,T1,1234,5,CNY,S,2026-11-20', 'recon row at byte 0: side must be C or O, not "X"'],
    ['kind pay', 'O,pay,g1,a1,T1,1234,5,CNY,S,2026-11-20', 'recon row at byte 0: kind must be payment or refund, not "pay"'],
    ['status P', 'O,payment,g1,a1,T1,1234,5,CNY,P,2026-11-20', 'recon row at byte 0: status must be S, F or D, not "P"'],
    ['no group', 'O,payment,,a1,T1,1234,5,CNY,S,2026-11-20', 'recon row at byte 0: group is empty'],
    ['a date of 9 characters', 'O,payment,g1,a1,T1,1234,5,CNY,S,2026-11-2', 'recon row at byte 0: date must be YYYY-MM-DD, not "2026-11-2"'],
    ['a date without its first dash', 'O,payment,g1,a1,T1,1234,5,CNY,S,2026/11-20', 'recon row at byte 0: date must be YYYY-MM-DD, not "2026/11-20"'],
    ['a date without its second dash', 'O,payment,g1,a1,T1,1234,5,CNY,S,2026-11/20', 'recon row at byte 0: date must be YYYY-MM-DD, not "2026-11/20"'],
    ['an amount not an integer', 'O,payment,g1,a1,T1,12.5,5,CNY,S,2026-11-20', 'row at byte 0: amount_minor is not an integer: "12.5"'],
    ['a fee not an integer', 'O,payment,g1,a1,T1,1234,x,CNY,S,2026-11-20', 'row at byte 0: fee_minor is not an integer: "x"'],
  ])('recon - a row with %s is refused, naming what is wrong', (_name, line, message) => {
    expect(() => decode(line)).toThrow(new RowFormatError(message));
  });

  test('recon - only the bytes of the range are the row: a comma just past its end starts no field', () => {
    const line = 'O,payment,g1,a1,T1,1234,5,CNY,S,2026-11-20';
    const bytes = Buffer.from(`${line},extra\n`);
    expect(decodeRow(bytes, 0, line.length, 'recon', day)).toEqual(base);
  });

  test('recon - a refused row is a RowFormatError', () => {
    let error: unknown;
    try {
      decode('X');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(RowFormatError);
    expect((error as Error).name).toBe('RowFormatError');
  });

  test('recon - the byte offset in an error is the row\'s', () => {
    const bytes = Buffer.from(`${recon_header}\nO,payment,g1,a1,T1,1234,5,CNY,S,2026-11-20\nO,payment,g1,a1,T1,1234,5,CNY,Q,2026-11-20\n`);
    const start = bytes.indexOf('\n', recon_header.length + 1) + 1;
    expect(() => decodeRow(bytes, start, lineEnd(bytes, start, bytes.length), 'recon', day)).toThrow(`recon row at byte ${start}: status must be S, F or D`);
  });
});

describe('recon - the bank statement row', () => {
  const pay = (fields: Partial<Record<'type' | 'order_no' | 'trade' | 'refund_no' | 'bank_refund_no' | 'amount' | 'fee' | 'currency', string>> = {}) => {
    const f = { type: 'PAY', order_no: 'o1', trade: 'B1', refund_no: '', bank_refund_no: '', amount: '12.34', fee: '0.05', currency: 'CNY', ...fields };
    return ['20261120120000', f.type, f.order_no, f.trade, f.refund_no, f.bank_refund_no, f.amount, f.fee, f.currency, 'ICBC', 'B2C'].join(',');
  };
  const paid: ReconRow = { side: 'C', kind: 'payment', group: 'o1', ref: 'o1', trade_no: 'B1', amount_minor: 1234n, fee_minor: 5n, currency: 'CNY', status: 'S', date: day };

  test.each([
    ['a payment: its group and ref the order, the bank trade number', pay(), paid],
    ['a payment\'s fee written negative is its magnitude', pay({ fee: '-0.05' }), paid],
    ['a refund: its ref the refund number, the bank refund number, the fee returned (negative)',
      pay({ type: 'REFUND', trade: 'B1', refund_no: 'r1', bank_refund_no: 'BR1', amount: '3.00', fee: '0.01' }),
      { ...paid, kind: 'refund', ref: 'r1', trade_no: 'BR1', amount_minor: 300n, fee_minor: -1n }],
    ['a refund\'s fee written negative stays negative', pay({ type: 'REFUND', refund_no: 'r1', bank_refund_no: 'BR1', fee: '-0.01' }),
      { ...paid, kind: 'refund', ref: 'r1', trade_no: 'BR1', fee_minor: -1n }],
    ['no fee is a fee of 0', pay({ fee: '' }), { ...paid, fee_minor: 0n }],
    ['no currency is CNY', pay({ currency: '' }), paid],
    ['another currency is kept', pay({ currency: 'USD' }), { ...paid, currency: 'USD' }],
    ['fields are trimmed', pay({ type: ' PAY ', order_no: ' o1 ', trade: ' B1 ', currency: ' CNY ' }), paid],
    ['a refund\'s fields are trimmed', pay({ type: 'REFUND', refund_no: ' r1 ', bank_refund_no: ' BR1 ' }),
      { ...paid, kind: 'refund', ref: 'r1', trade_no: 'BR1', fee_minor: -5n }],
    ['a fee of spaces is a fee of 0', pay({ fee: '  ' }), { ...paid, fee_minor: 0n }],
    ['an amount of 0 is a row', pay({ amount: '0' }), { ...paid, amount_minor: 0n }],
  ])('recon - %s', (_name, line, expected) => {
    expect(decode(line, 'bankgw')).toEqual(expected);
  });

  test.each([
    ['10 fields', pay().split(',').slice(0, 10).join(','), 'bankgw statement row at byte 0: 10 fields, expected 11'],
    ['a type neither PAY nor REFUND', pay({ type: 'pay' }), 'bankgw statement row at byte 0: type must be PAY or REFUND, not "pay"'],
    ['no order number', pay({ order_no: ' ' }), 'bankgw statement row at byte 0: order_no is empty'],
    ['a negative amount', pay({ amount: '-0.01' }), 'bankgw statement row at byte 0: amount is negative'],
    ['an amount of 3 decimals', pay({ amount: '1.001' }), 'row at byte 0: amount is not an amount in yuan with at most 2 decimals: "1.001"'],
    ['a fee not in yuan', pay({ fee: 'x' }), 'row at byte 0: fee is not an amount in yuan with at most 2 decimals: "x"'],
  ])('recon - a bank row with %s is refused, naming it', (_name, line, message) => {
    expect(() => decode(line, 'bankgw')).toThrow(new RowFormatError(message));
  });
});

describe('recon - amounts', () => {
  test.each([
    ['0', 0n], ['7', 7n], ['-7', -7n], ['007', 7n],
    ['999999999999999999', 999_999_999_999_999_999n], ['-999999999999999999', -999_999_999_999_999_999n],
    ['9007199254740993', 9_007_199_254_740_993n],
  ])('recon - the integer %s reads exactly', (text, minor) => {
    expect(integerMinor(text, 'amount_minor', 0)).toBe(minor);
  });

  test.each([
    ['', 'not an integer of at most 18 digits'], ['-', 'not an integer of at most 18 digits'],
    ['1000000000000000000', 'not an integer of at most 18 digits'], ['-1000000000000000000', 'not an integer of at most 18 digits'],
    ['1/', 'not an integer'], ['1:', 'not an integer'], ['+1', 'not an integer'], ['1-', 'not an integer'],
  ])('recon - the integer %j is refused', (text, problem) => {
    expect(() => integerMinor(text, 'fee_minor', 3)).toThrow(new RowFormatError(`row at byte 3: fee_minor is ${problem}: ${JSON.stringify(text)}`));
  });

  test.each([
    ['7', 700n], ['7.5', 750n], ['7.05', 705n], ['0.01', 1n], ['-0.05', -5n], ['-12', -1200n], [' 12.30 ', 1230n],
    ['999999999999999.99', 99_999_999_999_999_999n], ['-999999999999999', -99_999_999_999_999_900n],
    ['90071992547409.93', 9_007_199_254_740_993n], ['900719925474099.0', 90_071_992_547_409_900n],
  ])('recon - %j yuan is exactly that many fen', (text, minor) => {
    expect(yuanMinor(text, 'amount', 0)).toBe(minor);
  });

  test.each([
    '', '-', '.', '.5', '-.5', '5.', '1.234', '1..2', '1.2.3', '1e3', '1,5', '+1', '1/', '1:', '1000000000000000', '1000000000000000.00', '--1',
  ])('recon - %j is not an amount in yuan', (text) => {
    expect(() => yuanMinor(text, 'fee', 4)).toThrow(new RowFormatError(`row at byte 4: fee is not an amount in yuan with at most 2 decimals: ${JSON.stringify(text)}`));
  });
});

describe('recon - lines, shards and ranges', () => {
  const lines = (text: string) => Buffer.from(text);

  test.each([
    ['an empty line', '', 'recon', false],
    ['the recon header', recon_header, 'recon', false],
    ['a recon row', 'O,payment,g1,a1,T1,1,,CNY,S,2026-11-20', 'recon', true],
    ['a recon row that starts like the header\'s first column', 'sid,payment', 'recon', true],
    ['the header\'s first column alone', 'side,', 'recon', false],
    ['a line shorter than the header\'s first column', 'side', 'recon', true],
    ['the bank header', bank_header, 'bankgw', false],
    ['a bank comment (the trailer)', '#total,3', 'bankgw', false],
    ['a bank row', '20261120120000,PAY,o1,B1,,,1.00,0.01,CNY,ICBC,B2C', 'bankgw', true],
    ['a bank line shorter than the header\'s first column', 'trade', 'bankgw', true],
    ['a bank row that starts like the header\'s first column but goes on otherwise', 'trade_timeX,PAY', 'bankgw', true],
  ] as const)('recon - %s: a row? ', (_name, line, format, row) => {
    const bytes = lines(`x\n${line}\ny`);
    expect(isRowLine(bytes, 2, 2 + line.length, format)).toBe(row);
  });

  test('recon - only the bytes of the range decide: a range cut before the header\'s comma is a row', () => {
    const bytes = lines('x\nside,kind');
    expect(isRowLine(bytes, 2, 6, 'recon')).toBe(true);
    expect(isRowLine(bytes, 2, 7, 'recon')).toBe(false);
  });

  test('recon - an empty or inverted range is no row line', () => {
    const bytes = lines('O,payment,g1,a1,T1,1,,CNY,S,2026-11-20');
    expect(isRowLine(bytes, 5, 5, 'recon')).toBe(false);
    expect(isRowLine(bytes, 5, 4, 'bankgw')).toBe(false);
  });

  test('recon - a line ends at its newline, or at the limit when that comes first or there is none', () => {
    const bytes = lines('ab\ncd\nef');
    expect(lineEnd(bytes, 0, bytes.length)).toBe(2);
    expect(lineEnd(bytes, 3, bytes.length)).toBe(5);
    expect(lineEnd(bytes, 6, bytes.length)).toBe(8);
    expect(lineEnd(bytes, 3, 4)).toBe(4);
    expect(lineEnd(bytes, 3, 5)).toBe(5);
  });

  /** FNV-1a (32 bit) of the text's bytes, computed here from its definition. */
  const fnv1a = (text: string): number => {
    let hash = 2_166_136_261;
    for (const byte of Buffer.from(text)) hash = Number((BigInt(hash ^ byte) * 16_777_619n) & 0xffff_ffffn);
    return hash >>> 0;
  };

  test.each([
    ['a recon row', 'O,payment,grp-17,a1,T1,1,,CNY,S,2026-11-20', 'grp-17'],
    ['a bank row', '20261120120000,PAY,order9,B1,,,1.00,0.01,CNY,ICBC,B2C', 'order9'],
    ['a group that ends the line', 'O,payment,last', 'last'],
    ['a group that ends at a CR', 'O,payment,crlf\r', 'crlf'],
    ['an empty group', 'O,payment,,a1', ''],
    ['a line of two fields', 'O,payment', ''],
  ])('recon - %s goes to the shard of its group\'s FNV-1a', (_name, line, group) => {
    const bytes = lines(`${line}\n`);
    for (const shards of [1, 7, 64, 1000]) expect(shardOf(bytes, 0, line.length, shards)).toBe(fnv1a(group) % shards);
  });

  test('recon - line ranges: whole lines, in order, covering every byte once', () => {
    const bytes = lines('aaaa\nbb\ncccccc\nd\n');
    expect(lineRanges(bytes, 1)).toEqual([[0, 17]]);
    expect(lineRanges(bytes, 2)).toEqual([[0, 15], [15, 17]]);
    expect(lineRanges(bytes, 3)).toEqual([[0, 8], [8, 15], [15, 17]]);
    expect(lineRanges(bytes, 20)).toEqual([[0, 5], [5, 8], [8, 15], [15, 17]]);
    // Short lines: each part takes every line up to its share of the bytes.
    const six = lines('a\nb\nc\nd\ne\nf\n');
    expect(lineRanges(six, 2)).toEqual([[0, 8], [8, 12]]);
    expect(lineRanges(six, 3)).toEqual([[0, 6], [6, 10], [10, 12]]);
    expect(lineRanges(lines('no newline at all'), 3)).toEqual([[0, 17]]);
    expect(lineRanges(lines(''), 3)).toEqual([]);
    expect(() => lineRanges(bytes, 0)).toThrow('recon: parts must be at least 1');
  });
});
