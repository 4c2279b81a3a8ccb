// Sealer: AES-256-GCM round trip, a fresh nonce per seal, tamper and wrong-key detection, no
// clear text in the sealed form, and the 32-byte key requirement.

import { randomBytes } from 'node:crypto';
import { Sealer } from './seal';

const key = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex');
const payer = { client_ip: '203.0.113.7', openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o', card_token: 'tok_4111_visa', name: '张三' };

/** The raw bytes of a sealed value (nonce ‖ ciphertext ‖ tag) and a way to put them back. */
function unpack(sealed: string): { version: string; raw: Buffer } {
  const [version, payload] = sealed.split('.');
  return { version: version!, raw: Buffer.from(payload!, 'base64url') };
}
function pack(version: string, raw: Buffer): string {
  return `${version}.${raw.toString('base64url')}`;
}

describe('seal', () => {
  test('seal - a sealed value opens to the same value', () => {
    const sealer = new Sealer(key);
    expect(sealer.open(sealer.seal(payer))).toEqual(payer);
    expect(sealer.open(sealer.seal('just a string'))).toBe('just a string');
    expect(new Sealer(Buffer.from(key)).open(sealer.seal(payer))).toEqual(payer); // same key, another instance
  });

  test('seal - the format is the key version, then nonce ‖ ciphertext ‖ tag in base64url', () => {
    const sealed = new Sealer(key).seal(payer);
    expect(sealed).toMatch(/^k1\.[A-Za-z0-9_-]+$/);
    const { raw } = unpack(sealed);
    expect(raw.length).toBe(12 + Buffer.byteLength(JSON.stringify(payer), 'utf8') + 16);
  });

  test('seal - two seals of the same value differ (random nonce)', () => {
    const sealer = new Sealer(key);
    const first = sealer.seal(payer);
    const second = sealer.seal(payer);
    expect(first).not.toBe(second);
    expect(unpack(first).raw.subarray(0, 12).equals(unpack(second).raw.subarray(0, 12))).toBe(false);
    expect(sealer.open(first)).toEqual(sealer.open(second));
  });

  test.each([
    ['the nonce', 0],
    ['the ciphertext', 20],
    ['the tag', -1],
  ])('seal - a flipped byte in %s fails to open', (_where, index) => {
    const sealer = new Sealer(key);
    const { version, raw } = unpack(sealer.seal(payer));
    const at = index < 0 ? raw.length + index : index;
    const tampered = Buffer.from(raw);
    tampered[at] = tampered[at]! ^ 0x01;
    expect(() => sealer.open(pack(version, tampered))).toThrow(/unable to authenticate/);
    expect(sealer.open(pack(version, raw))).toEqual(payer); // the untouched bytes still open
  });

  test('seal - a truncated sealed value fails to open', () => {
    const sealer = new Sealer(key);
    const { version, raw } = unpack(sealer.seal(payer));
    expect(() => sealer.open(pack(version, raw.subarray(0, raw.length - 1)))).toThrow();
  });

  test('seal - a different key fails to open', () => {
    const sealed = new Sealer(key).seal(payer);
    const other = Buffer.from(key);
    other[31] = other[31]! ^ 0x80;
    expect(() => new Sealer(other).open(sealed)).toThrow(/unable to authenticate/);
    expect(() => new Sealer(randomBytes(32)).open(sealed)).toThrow(/unable to authenticate/);
  });

  test('seal - an unknown key version is refused', () => {
    const sealer = new Sealer(key);
    const { raw } = unpack(sealer.seal(payer));
    expect(() => sealer.open(pack('k2', raw))).toThrow('sealed value has an unknown key version');
    expect(() => sealer.open(raw.toString('base64url'))).toThrow('sealed value has an unknown key version');
  });

  test('seal - the sealed string does not contain the clear text', () => {
    const sealer = new Sealer(key);
    const sealed = sealer.seal(payer);
    const { raw } = unpack(sealed);
    for (const value of Object.values(payer)) {
      expect(sealed).not.toContain(value);
      expect(raw.includes(Buffer.from(value, 'utf8'))).toBe(false);
      expect(sealed).not.toContain(Buffer.from(value, 'utf8').toString('base64url'));
    }
    expect(raw.includes(Buffer.from(JSON.stringify(payer), 'utf8'))).toBe(false);
  });

  test('seal - the sealer never shows its key when serialised', () => {
    const sealer = new Sealer(key);
    expect(JSON.stringify({ sealer })).toBe('{"sealer":"[Sealer]"}');
    expect(JSON.stringify({ sealer })).not.toContain(key.toString('hex'));
  });

  test.each([0, 16, 31, 33, 64])('seal - a %i-byte key is refused', (length) => {
    expect(() => new Sealer(Buffer.alloc(length, 7))).toThrow(expect.objectContaining({ name: 'AssertionError', message: 'Sealer needs a 32-byte key' }));
  });
});
