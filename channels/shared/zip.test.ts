// The zip reader (yauzl, bounded) against archives the sandbox's writer makes, the GBK codec the Alipay bill needs, and money/CSV
// helpers. Each bound of the reader is tested with an archive just over it.

import { deflateRawSync } from 'node:zlib';
import { encode } from 'iconv-lite';
import { decodeGbk } from './gbk';
import { formatYuan, parseYuan, splitCsvLine } from './http';
import { writeZip } from '../../testing/sandbox/zip-writer';
import { readZip, zip_entries_max, zip_entry_bytes_max, zip_total_bytes_max } from './zip';

const central_signature = Buffer.from([0x50, 0x4b, 0x01, 0x02]);

/** The offset of the index-th central directory entry of an archive writeZip wrote. */
function centralEntry(archive: Buffer, index: number): number {
  let at = -1;
  for (let i = 0; i <= index; i++) {
    at = archive.indexOf(central_signature, at + 1);
    if (at < 0) throw new Error(`no central entry ${index}`);
  }
  return at;
}

/** A copy of the archive with the index-th central entry's field (a 32-bit LE at `field`) set. */
function patched(archive: Buffer, index: number, field: 'crc' | 'uncompressed', value: number): Buffer {
  const copy = Buffer.from(archive);
  copy.writeUInt32LE(value >>> 0, centralEntry(copy, index) + (field === 'crc' ? 16 : 24));
  return copy;
}

const text = (bytes: number) => Buffer.from('x'.repeat(bytes));
/** GBK as the sandbox writes it (iconv-lite: not this module's code). */
const encodeGbk = (line: string): Buffer => encode(line, 'gbk');

describe('shared - zip and gbk', () => {
  test('shared - GBK: a bill line written by another encoder reads back', () => {
    // 支付宝 in GBK (GB 2312 row/cell + 0xA0A0): D6A7 B8B6 B1A6; ASCII as itself.
    expect(decodeGbk(Buffer.from('d6a7b8b6b1a62c41', 'hex'))).toBe('支付宝,A');
    const line = '支付宝交易号,商户订单号,业务类型,退款批次号/请求号,服务费（元）';
    const bytes = encodeGbk(line);
    expect(bytes.length).toBeLessThan(Buffer.byteLength(line, 'utf8'));
    expect(decodeGbk(bytes)).toBe(line);
  });

  test('shared - zip round trip with GBK and UTF-8 names; corruption is refused', async () => {
    const archive = writeZip([
      { name: '20886126836996110156_20160405_业务明细.csv', data: encodeGbk('#支付宝\r\n'), gbk_name: encodeGbk('20886126836996110156_20160405_业务明细.csv') },
      { name: 'readme.txt', data: text(10_000) },
      { name: '汇总.csv', data: Buffer.from('总计') },
    ]);
    const entries = await readZip(archive);
    expect(entries.map((e) => e.name)).toEqual(['20886126836996110156_20160405_业务明细.csv', 'readme.txt', '汇总.csv']);
    expect(decodeGbk(entries[0]!.data)).toBe('#支付宝\r\n');
    expect(entries[1]!.data).toEqual(text(10_000));
    expect(entries[2]!.data.toString('utf8')).toBe('总计');
    await expect(readZip(Buffer.from('not a zip at all, not even close'))).rejects.toThrow(/^zip: /);
    await expect(readZip(archive.subarray(0, archive.length - 30))).rejects.toThrow(/^zip: /);
    const compressed = deflateRawSync(text(10_000));
    const at = archive.indexOf(compressed);
    const broken = Buffer.from(archive);
    broken[at + 1] = broken[at + 1]! ^ 0xff;
    await expect(readZip(broken)).rejects.toThrow(/^zip: /);
  });

  test('shared - zip: at most zip_entries_max entries', async () => {
    const entries = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `f${i}.csv`, data: Buffer.from(`${i}`) }));
    expect(await readZip(writeZip(entries(zip_entries_max)))).toHaveLength(zip_entries_max);
    await expect(readZip(writeZip(entries(zip_entries_max + 1)))).rejects.toThrow(`zip: ${zip_entries_max + 1} entries, at most ${zip_entries_max}`);
  });

  test('shared - zip: an entry declaring more than zip_entry_bytes_max is refused before it is inflated', async () => {
    const archive = writeZip([{ name: 'bill.csv', data: text(1_000) }]);
    await expect(readZip(patched(archive, 0, 'uncompressed', zip_entry_bytes_max + 1))).rejects.toThrow(`zip: entry bill.csv over ${zip_entry_bytes_max} bytes`);
  });

  test('shared - zip: entries declaring more than zip_total_bytes_max in all are refused', async () => {
    // Each within the per-entry bound; the second takes the sum over the total.
    const archive = writeZip([{ name: 'a.csv', data: text(1_000) }, { name: 'b.csv', data: text(1_000) }]);
    await expect(readZip(patched(archive, 1, 'uncompressed', zip_total_bytes_max))).rejects.toThrow(`zip: entries over ${zip_total_bytes_max} bytes in all`);
  });

  test('shared - zip: an entry inflating to more than it declares (a bomb under a small size) is refused', async () => {
    const archive = writeZip([{ name: 'bomb.csv', data: text(100_000) }]);
    await expect(readZip(patched(archive, 0, 'uncompressed', 1_000))).rejects.toThrow(/^zip: .*too many bytes/);
    await expect(readZip(patched(archive, 0, 'uncompressed', 200_000))).rejects.toThrow(/^zip: not enough bytes/);
  });

  test('shared - zip: an entry failing its CRC is refused', async () => {
    const archive = writeZip([{ name: 'bill.csv', data: text(1_000) }]);
    await expect(readZip(patched(archive, 0, 'crc', 0x12345678))).rejects.toThrow('zip: entry bill.csv fails its CRC');
  });

  test('shared - zip: an absolute or climbing entry path is refused', async () => {
    for (const name of ['../bill.csv', 'a/../../bill.csv', '/etc/bill.csv', 'C:\\bill.csv']) {
      await expect(readZip(writeZip([{ name, data: text(10) }]))).rejects.toThrow(/^zip: entry name refused/);
    }
    expect((await readZip(writeZip([{ name: 'dir/bill.csv', data: text(10) }])))[0]!.name).toBe('dir/bill.csv');
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
