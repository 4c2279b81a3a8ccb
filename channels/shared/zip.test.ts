// The zip reader / writer and GBK codec the Alipay bill needs, without dependencies.

import { deflateRawSync } from 'node:zlib';
import { decodeGbk, encodeGbk } from './gbk';
import { formatYuan, parseYuan, splitCsvLine } from './http';
import { readZip, writeZip } from './zip';

describe('shared - zip and gbk', () => {
  test('shared - GBK round trip of a bill line', () => {
    const text = '支付宝交易号,商户订单号,业务类型,退款批次号/请求号,服务费（元）';
    const bytes = encodeGbk(text);
    expect(bytes.length).toBeLessThan(Buffer.byteLength(text, 'utf8'));
    expect(decodeGbk(bytes)).toBe(text);
  });

  test('shared - zip round trip with GBK and UTF-8 names; corruption is refused', () => {
    const archive = writeZip([
      { name: '20886126836996110156_20160405_业务明细.csv', data: encodeGbk('#支付宝\r\n'), gbk_name: encodeGbk('20886126836996110156_20160405_业务明细.csv') },
      { name: 'readme.txt', data: Buffer.from('x'.repeat(10_000)) },
    ]);
    const entries = readZip(archive);
    expect(entries.map((e) => e.name)).toEqual(['20886126836996110156_20160405_业务明细.csv', 'readme.txt']);
    expect(decodeGbk(entries[0]!.data)).toBe('#支付宝\r\n');
    expect(entries[1]!.data.length).toBe(10_000);
    expect(() => readZip(Buffer.from('not a zip at all, not even close'))).toThrow(/not a zip/);
    const compressed = deflateRawSync(Buffer.from('x'.repeat(10_000)));
    const at = archive.indexOf(compressed);
    const broken = Buffer.from(archive);
    broken[at + 1] = broken[at + 1]! ^ 0xff;
    expect(() => readZip(broken)).toThrow();
  });

  test('shared - yuan strings and bigint fen convert exactly', () => {
    expect(parseYuan('88.88')).toBe(8_888n);
    expect(parseYuan('-4.5')).toBe(-450n);
    expect(parseYuan('1.234')).toBeUndefined();
    expect(formatYuan(5n)).toBe('0.05');
    expect(formatYuan(-450n)).toBe('-4.50');
    expect(splitCsvLine('a,"b,c",d""')).toEqual(['a', 'b,c', 'd""']);
  });
});
