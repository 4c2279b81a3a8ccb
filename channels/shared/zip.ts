// Reading the ZIP archives providers' bills come in (Alipay's bill is a zip of GBK CSVs), with
// bounds so a hostile archive cannot exhaust memory.
//
// The reader is yauzl: it reads the central directory (never trusting the local headers), does
// stored and deflate entries, ZIP64, and makes the streamed data agree with the sizes the
// directory declares (validateEntrySizes), so the bounds below, checked against those sizes
// before anything is inflated, hold for what is actually inflated. It does not check CRC-32:
// done here. Names come as raw bytes: without the UTF-8 flag they are GBK (what Chinese Windows
// tools write), which no ZIP library decodes.

import { crc32 as zlib_crc32 } from 'node:zlib';
import { fromBuffer, validateFileName, type Entry, type ZipFile } from 'yauzl';
import { decodeGbk } from './gbk';

/** Entries in one archive; a bill archive has two or three. */
export const zip_entries_max = 64;
/** Uncompressed bytes per entry: a day's bill of a large merchant stays far below this. */
export const zip_entry_bytes_max = 256 * 1024 * 1024;
/** Uncompressed bytes of all entries together (entries may share compressed data: a ZIP bomb
 * of overlapping entries is stopped here, not by the per-entry bound). */
export const zip_total_bytes_max = 256 * 1024 * 1024;

const flag_utf8_names = 0x0800;

export interface ZipEntry {
  /** Names without the UTF-8 flag are decoded as GBK (what Chinese Windows tools write). */
  name: string;
  data: Buffer;
}

/** Every file entry of the archive (directories skipped). Throws, naming the entry, when the
 * archive is malformed, over a bound, or an entry fails its CRC or has an unsafe path. */
export async function readZip(archive: Buffer): Promise<ZipEntry[]> {
  const zip = await open(archive);
  try {
    if (zip.entryCount > zip_entries_max) throw new Error(`zip: ${zip.entryCount} entries, at most ${zip_entries_max}`);
    const entries: ZipEntry[] = [];
    let total_bytes = 0;
    for (let entry = await nextEntry(zip); entry !== undefined; entry = await nextEntry(zip)) {
      const raw_name = entry.fileName as unknown as Buffer; // decodeStrings: false
      const name = (entry.generalPurposeBitFlag & flag_utf8_names) !== 0 ? raw_name.toString('utf8') : decodeGbk(raw_name);
      const unsafe = validateFileName(name);
      if (unsafe !== null) throw new Error(`zip: entry name refused: ${unsafe}`);
      if (entry.uncompressedSize > zip_entry_bytes_max) throw new Error(`zip: entry ${name} over ${zip_entry_bytes_max} bytes`);
      total_bytes += entry.uncompressedSize;
      if (total_bytes > zip_total_bytes_max) throw new Error(`zip: entries over ${zip_total_bytes_max} bytes in all`);
      if (name.endsWith('/')) continue;
      const data = await entryData(zip, entry);
      if (typeof zlib_crc32 === 'function' && (zlib_crc32(data) >>> 0) !== entry.crc32) throw new Error(`zip: entry ${name} fails its CRC`);
      entries.push({ name, data });
    }
    return entries;
  } finally {
    zip.close();
  }
}

function open(archive: Buffer): Promise<ZipFile> {
  return new Promise((resolve, reject) => {
    fromBuffer(archive, { lazyEntries: true, decodeStrings: false, validateEntrySizes: true }, (error, zip) => {
      if (error !== null) reject(new Error(`zip: ${error.message}`));
      else resolve(zip);
    });
  });
}

/** The next central directory entry, or undefined after the last. */
function nextEntry(zip: ZipFile): Promise<Entry | undefined> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      zip.off('entry', onEntry);
      zip.off('end', onEnd);
      zip.off('error', onError);
    };
    const onEntry = (entry: Entry) => { cleanup(); resolve(entry); };
    const onEnd = () => { cleanup(); resolve(undefined); };
    const onError = (error: Error) => { cleanup(); reject(new Error(`zip: ${error.message}`)); };
    zip.once('entry', onEntry);
    zip.once('end', onEnd);
    zip.once('error', onError);
    zip.readEntry();
  });
}

/** An entry's data, inflated; the stream errors when it does not match the declared size. */
function entryData(zip: ZipFile, entry: Entry): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (error, stream) => {
      if (error !== null) {
        reject(new Error(`zip: ${error.message}`));
        return;
      }
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.once('error', (failure: Error) => reject(new Error(`zip: ${failure.message}`)));
      stream.once('end', () => resolve(Buffer.concat(chunks)));
    });
  });
}
