// Key loading and the signature primitives several providers sign with (SHA256withRSA, HMAC-
// SHA256), as pure functions. What each provider signs (its canonical string, its headers) is
// the provider's own and lives in its adapter; the sandbox PSP checks it with its own code.
//
// Nothing here logs, and no error message carries key material or a signature.

import { createHmac, createPrivateKey, createPublicKey, createSign, createVerify, timingSafeEqual, type KeyObject } from 'node:crypto';

/** A PEM text or a key already loaded. */
export type KeyInput = string | KeyObject;

/** Loads a PEM private key (throws when it is not one). */
export function privateKey(pem: KeyInput): KeyObject {
  return typeof pem === 'string' ? createPrivateKey(pem) : pem;
}

/** Loads a PEM public key, or the public half of a private key (throws when neither). */
export function publicKey(pem: KeyInput): KeyObject {
  return typeof pem === 'string' ? createPublicKey(pem) : pem;
}

/** SHA256withRSA (PKCS#1 v1.5) over the UTF-8 message, base64. */
export function rsaSha256Sign(message: string, key: KeyInput): string {
  const signer = createSign('RSA-SHA256');
  signer.update(message, 'utf8');
  return signer.sign(privateKey(key), 'base64');
}

/** Whether `signature_base64` is a SHA256withRSA signature of the message; never throws. */
export function rsaSha256Verify(message: string, signature_base64: string, key: KeyInput): boolean {
  try {
    const verifier = createVerify('RSA-SHA256');
    verifier.update(message, 'utf8');
    return verifier.verify(publicKey(key), Buffer.from(signature_base64, 'base64'));
  } catch {
    return false;
  }
}

/** HMAC-SHA256 of the UTF-8 message keyed with the UTF-8 key, lower-case hex. */
export function hmacSha256Hex(message: string, key: string): string {
  return createHmac('sha256', Buffer.from(key, 'utf8')).update(message, 'utf8').digest('hex');
}

/** Constant-time equality of an expected and a given signature text. */
export function sameSignature(expected: string, given: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(given, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}
