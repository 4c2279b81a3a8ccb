// Seals personal data (payer elements) before it goes into an event, so the event log, its
// consumers and any dump of them never hold it in clear. AES-256-GCM, random 96-bit nonce.
// Format: base64url(nonce ‖ ciphertext ‖ tag), prefixed with the key version.

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { assert } from './errors';

const key_version = 'k1';
const nonce_bytes = 12;
const tag_bytes = 16;

export class Sealer {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    assert(key.length === 32, 'Sealer needs a 32-byte key');
    this.#key = key;
  }

  seal(value: unknown): string {
    const nonce = randomBytes(nonce_bytes);
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce);
    const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
    return `${key_version}.${Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64url')}`;
  }

  open<T>(sealed: string): T {
    const [version, payload] = sealed.split('.');
    assert(version === key_version && payload !== undefined, 'sealed value has an unknown key version');
    const raw = Buffer.from(payload, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, nonce_bytes));
    decipher.setAuthTag(raw.subarray(raw.length - tag_bytes));
    const clear = Buffer.concat([decipher.update(raw.subarray(nonce_bytes, raw.length - tag_bytes)), decipher.final()]);
    return JSON.parse(clear.toString('utf8')) as T;
  }

  /** Keeps the key out of logs and inspection. */
  toJSON(): string {
    return '[Sealer]';
  }
}
