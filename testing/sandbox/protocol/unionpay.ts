// The sandbox's own side of UnionPay 全渠道 (ACP 5.1.0) signMethod 01, written from the
// protocol's documentation and deliberately independent of channels/unionpay: were the adapter
// to get the signing string wrong, a sandbox sharing its code would agree with it and every
// test would pass. Here, as the ACP documents it:
//   1. every field except `signature`, sorted by name (ASCII), as `name=value` joined by `&`
//      (raw values, nothing URL-encoded, empty values kept);
//   2. the SHA-256 of that string as lower-case hex;
//   3. SHA256withRSA over that hex text, base64: the `signature` field.
// The certId of the signing key and signMethod=01 are fields, so they are signed too.

import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

export function unionpayKey(pem: string, kind: 'private' | 'public'): KeyObject {
  return kind === 'private' ? createPrivateKey(pem) : createPublicKey(pem);
}

function signingString(fields: Record<string, string>): string {
  const names = Object.keys(fields).filter((name) => name !== 'signature');
  names.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return names.map((name) => `${name}=${fields[name]}`).join('&');
}

function digestHex(fields: Record<string, string>): Buffer {
  return Buffer.from(createHash('sha256').update(signingString(fields), 'utf8').digest('hex'), 'utf8');
}

/** `fields` with certId, signMethod 01 and their signature by `key`. */
export function unionpaySign(fields: Record<string, string>, cert_id: string, key: KeyObject): Record<string, string> {
  const unsigned = { ...fields, certId: cert_id, signMethod: '01' };
  return { ...unsigned, signature: sign('sha256', digestHex(unsigned), key).toString('base64') };
}

/** Whether `fields` are signed (signMethod 01) by `key`, named by `cert_id`. */
export function unionpayVerify(fields: Record<string, string>, cert_id: string, key: KeyObject): boolean {
  if (fields.signMethod !== '01' || fields.certId !== cert_id || !fields.signature) return false;
  try {
    return verify('sha256', digestHex(fields), key, Buffer.from(fields.signature, 'base64'));
  } catch {
    return false;
  }
}
