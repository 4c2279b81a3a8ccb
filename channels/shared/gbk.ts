// GBK without a dependency: Node's ICU TextDecoder reads it; the encoder (only the sandbox
// writes GBK, for the Alipay bill) is the decoder's table inverted once, on first use.

const decoder = new TextDecoder('gbk');

export function decodeGbk(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

let encode_table: Map<number, number> | undefined;

function table(): Map<number, number> {
  if (encode_table !== undefined) return encode_table;
  const strict = new TextDecoder('gbk', { fatal: true });
  const map = new Map<number, number>();
  const pair = new Uint8Array(2);
  for (let lead = 0x81; lead <= 0xfe; lead++) {
    for (let trail = 0x40; trail <= 0xfe; trail++) {
      if (trail === 0x7f) continue;
      pair[0] = lead;
      pair[1] = trail;
      let text: string;
      try {
        text = strict.decode(pair);
      } catch {
        continue;
      }
      const code_point = text.codePointAt(0)!;
      if (text.length === 1 && code_point !== 0xfffd && !map.has(code_point)) map.set(code_point, (lead << 8) | trail);
    }
  }
  encode_table = map;
  return map;
}

/** Characters GBK cannot hold become '?', as Windows tools write them. */
export function encodeGbk(text: string): Buffer {
  const map = table();
  const out: number[] = [];
  for (const char of text) {
    const code_point = char.codePointAt(0)!;
    if (code_point < 0x80) {
      out.push(code_point);
      continue;
    }
    const bytes = map.get(code_point);
    if (bytes === undefined) out.push(0x3f);
    else out.push(bytes >> 8, bytes & 0xff);
  }
  return Buffer.from(out);
}
