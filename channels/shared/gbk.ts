// GBK without a dependency: Node's ICU TextDecoder reads it (the Alipay bill). Nothing in the
// product writes GBK; the sandbox PSP, which writes the bill, encodes it with iconv-lite, its
// own code rather than this decoder's table inverted (so a mistake here is not mirrored there).

const decoder = new TextDecoder('gbk');

export function decodeGbk(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}
