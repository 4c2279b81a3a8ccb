// key=value& bodies: form parsing refuses a repeated name; the canonical string each provider
// signs, with the fields it leaves out.

import { canonicalString, parseForm } from './form';

test('form - a urlencoded body reads to its fields; a repeated name is malformed', () => {
  expect(parseForm('b=2&a=%E4%B8%AD+x&empty=')).toEqual({ a: '中 x', b: '2', empty: '' });
  expect(parseForm('sign=a&sign=b')).toBeUndefined();
});

test('form - canonical string: sorted by name, raw values, the excluded and (when asked) empty fields left out', () => {
  const fields = { b: '2', a: 'x&y=z', sign: 's', sign_type: 'RSA2', empty: '', missing: undefined, B: 'upper' };
  expect(canonicalString(fields, { exclude: ['sign'], drop_empty: true })).toBe('B=upper&a=x&y=z&b=2&sign_type=RSA2');
  expect(canonicalString(fields, { exclude: ['sign', 'sign_type'], drop_empty: false })).toBe('B=upper&a=x&y=z&b=2&empty=');
  expect(canonicalString({}, { exclude: [], drop_empty: false })).toBe('');
});
