// The sandbox's ZIP writer (its Alipay bill archive, and the zip reader's tests): deflated
// entries, UTF-8 names flagged 0x0800, or GBK names unflagged as Alipay's archive has them —
// which no ZIP library writes, hence written by hand. Test kit only: paycore itself only reads
// archives (channels/shared/zip.ts, a library with bounds).

import { crc32 as zlib_crc32, deflateRawSync } from 'node:zlib';

const flag_utf8_names = 0x0800;
const signature_end = 0x06054b50;
const signature_central = 0x02014b50;
const signature_local = 0x04034b50;
const end_record_bytes = 22;

/** Deflated entries with UTF-8 names (flag 0x0800), or the GBK name given. */
export function writeZip(entries: readonly { name: string; data: Buffer; gbk_name?: Buffer }[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = entry.gbk_name ?? Buffer.from(entry.name, 'utf8');
    const flags = entry.gbk_name === undefined ? flag_utf8_names : 0;
    const compressed = deflateRawSync(entry.data);
    const crc = crc32(entry.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(signature_local, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(compressed.length, 18);
    local.writeUInt32LE(entry.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(signature_central, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(compressed.length, 20);
    central.writeUInt32LE(entry.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, compressed);
    centrals.push(central, name);
    offset += local.length + name.length + compressed.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(end_record_bytes);
  end.writeUInt32LE(signature_end, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

let crc_table: Uint32Array | undefined;

/** zlib.crc32 exists from Node 20.15; this fallback keeps older 20.x working. */
function crc32(data: Buffer): number {
  if (typeof zlib_crc32 === 'function') return zlib_crc32(data) >>> 0;
  if (crc_table === undefined) {
    crc_table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crc_table[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const byte of data) crc = crc_table[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
