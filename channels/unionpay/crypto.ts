// China UnionPay 全渠道 (ACP 5.1.0) signatures as pure functions: the signed string of a
// message, signMethod 01 signing (SHA-256 hex digest of that string, then SHA256withRSA over
// the digest's hex text, base64) and its verification. The adapter signs with the merchant's
// signing key and verifies with UnionPay's verification key; the sandbox does the opposite.
//
// Real 5.1.0 answers carry UnionPay's signing certificate (signPubKeyCert), validated against
// the UnionPay root chain. paycore instead pins a configured verification public key and its
// certId (settings.verify_public_key_pem / verify_cert_id): nothing an answer carries chooses
// the key it is checked with.
//
// Nothing here logs, and no error message carries key material or a signature.

import { createHash } from 'node:crypto';
import { rsaSha256Sign, rsaSha256Verify, type KeyInput } from '../shared/crypto';
import { canonicalString } from '../shared/form';

const SIGN_METHOD_RSA = '01';

/**
 * The string UnionPay signs: every field except `signature`, sorted by name in byte order,
 * as raw `name=value` joined by `&` (values not URL-encoded, empty values kept).
 */
export function signContent(params: Record<string, string | undefined>): string {
  return canonicalString(params, { exclude: ['signature'], drop_empty: false });
}

/** The SHA-256 of the signed string, lower-case hex: what signMethod 01 actually signs. */
export function contentDigestHex(content: string): string {
  return createHash('sha256').update(content, 'utf8').digest('hex');
}

function signDigest(content: string, key: KeyInput): string {
  return rsaSha256Sign(contentDigestHex(content), key);
}

function verifyDigest(content: string, signature_base64: string, key: KeyInput): boolean {
  return rsaSha256Verify(contentDigestHex(content), signature_base64, key);
}

/** The message plus certId and signature (certId is part of what is signed). */
export function signParams(params: Record<string, string>, cert_id: string, key: KeyInput): Record<string, string> {
  const unsigned = { ...params, certId: cert_id, signMethod: SIGN_METHOD_RSA };
  return { ...unsigned, signature: signDigest(signContent(unsigned), key) };
}

export type VerifyVerdict = { ok: true } | { ok: false; reason: 'missing_signature' | 'wrong_cert_id' | 'wrong_sign_method' | 'bad_signature' };

/** Whether `params` carry a valid signMethod 01 signature by the key behind `cert_id`. */
export function verifyParams(params: Record<string, string>, cert_id: string | undefined, key: KeyInput): VerifyVerdict {
  const signature = params.signature;
  if (signature === undefined || signature === '') return { ok: false, reason: 'missing_signature' };
  if (params.signMethod !== SIGN_METHOD_RSA) return { ok: false, reason: 'wrong_sign_method' };
  if (cert_id !== undefined && params.certId !== undefined && params.certId !== cert_id) return { ok: false, reason: 'wrong_cert_id' };
  return verifyDigest(signContent(params), signature, key) ? { ok: true } : { ok: false, reason: 'bad_signature' };
}
