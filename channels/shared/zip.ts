// A minimal ZIP reader (stored and deflate entries, the two methods providers' bill archives
// use) and writer (for the sandbox's Alipay bill). Node's zlib does the inflating; this file
// only walks the central directory. Bounded so a hostile archive cannot exhaust memory.

import { crc32 as zlib_crc32, deflateRawSync, inflateRawSync } from 'node:zlib';
import { decodeGbk } from './gbk';

/** Entries read from one archive; a bill archive has two or three. */
export const zip_entries_max = 64;
/** Uncompressed bytes per entry: a day's bill of a large merchant stays far below this. */
export const zip_entry_bytes_max = 256 * 1024 * 1024;

const signature_end = 0x06054b50;
const signature_central = 0x02014b50;
const signature_local = 0x04034b50;
const end_record_bytes = 22;
const comment_bytes_max = 0xffff;
const flag_utf8_names = 0x0800;

export interface ZipEntry {
  /** Names without the UTF-8 flag are decoded as GBK (what Chinese Windows tools write). */
  name: string;
  data: Buffer;
}

export function readZip(archive: Buffer): ZipEntry[] {
  const end = findEndRecord(archive);
  const count = archive.readUInt16LE(end + 10);
  const directory_offset = archive.readUInt32LE(end + 16);
  if (count > zip_entries_max) throw new Error(`zip: ${count} entries, at most ${zip_entries_max}`);
  const entries: ZipEntry[] = [];
  let offset = directory_offset;
  for (let index = 0; index < count; index++) {
    need(archive, offset, 46);
    if (archive.readUInt32LE(offset) !== signature_central) throw new Error('zip: bad central directory entry');
    const flags = archive.readUInt16LE(offset + 8);
    const method = archive.readUInt16LE(offset + 10);
    const crc = archive.readUInt32LE(offset + 16);
    const compressed_bytes = archive.readUInt32LE(offset + 20);
    const size_bytes = archive.readUInt32LE(offset + 24);
    const name_bytes = archive.readUInt16LE(offset + 28);
    const extra_bytes = archive.readUInt16LE(offset + 30);
    const comment_length = archive.readUInt16LE(offset + 32);
    const local_offset = archive.readUInt32LE(offset + 42);
    need(archive, offset + 46, name_bytes);
    const raw_name = archive.subarray(offset + 46, offset + 46 + name_bytes);
    const name = (flags & flag_utf8_names) !== 0 ? raw_name.toString('utf8') : decodeGbk(raw_name);
    offset += 46 + name_bytes + extra_bytes + comment_length;
    if (size_bytes > zip_entry_bytes_max) throw new Error(`zip: entry ${name} over ${zip_entry_bytes_max} bytes`);
    if (name.endsWith('/')) continue;
    const data = entryData(archive, local_offset, method, compressed_bytes, size_bytes);
    if (typeof zlib_crc32 === 'function' && (zlib_crc32(data) >>> 0) !== crc) throw new Error(`zip: entry ${name} fails its CRC`);
    entries.push({ name, data });
  }
  return entries;
}

function entryData(archive: Buffer, local_offset: number, method: number, compressed_bytes: number, size_bytes: number): Buffer {
  need(archive, local_offset, 30);
  if (archive.readUInt32LE(local_offset) !== signature_local) throw new Error('zip: bad local header');
  const start = local_offset + 30 + archive.readUInt16LE(local_offset + 26) + archive.readUInt16LE(local_offset + 28);
  need(archive, start, compressed_bytes);
  const compressed = archive.subarray(start, start + compressed_bytes);
  let data: Buffer;
  if (method === 0) data = Buffer.from(compressed);
  else if (method === 8) data = inflateRawSync(compressed, { maxOutputLength: zip_entry_bytes_max });
  else throw new Error(`zip: compression method ${method} is not supported`);
  if (data.length !== size_bytes) throw new Error('zip: entry size does not match its directory');
  return data;
}

function findEndRecord(archive: Buffer): number {
  const lowest = Math.max(0, archive.length - end_record_bytes - comment_bytes_max);
  for (let offset = archive.length - end_record_bytes; offset >= lowest; offset--) {
    if (archive.readUInt32LE(offset) === signature_end) return offset;
  }
  throw new Error('zip: no end of central directory (not a zip archive)');
}

function need(archive: Buffer, offset: number, bytes: number): void {
  if (offset < 0 || offset + bytes > archive.length) throw new Error('zip: truncated archive');
}

/** Deflated entries with UTF-8 names (flag 0x0800); for the sandbox and tests. */
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
