// China time in each shape the providers write it, and what is not read as a time.

import {
  chinaDate, chinaDateTime, chinaRfc3339, compactChinaTime, parseChinaDateTime, parseCompactChinaTime,
} from './china-time';

const instant = new Date('2023-12-31T16:04:05.678Z'); // 2024-01-01 00:04:05 in China

test('china time - every shape of one instant, across the UTC date line', () => {
  expect(chinaDate(instant)).toBe('2024-01-01');
  expect(chinaDateTime(instant)).toBe('2024-01-01 00:04:05');
  expect(chinaRfc3339(instant)).toBe('2024-01-01T00:04:05+08:00');
  expect(compactChinaTime(instant)).toBe('20240101000405');
  expect(chinaDate(new Date('2024-01-01T15:59:59Z'))).toBe('2024-01-01');
  expect(chinaDate(new Date('2024-01-01T16:00:00Z'))).toBe('2024-01-02');
});

test('china time - the texts read back to the instant (to the second)', () => {
  const second = new Date('2023-12-31T16:04:05Z');
  expect(parseChinaDateTime('2024-01-01 00:04:05')).toEqual(second);
  expect(parseCompactChinaTime('20240101000405')).toEqual(second);
});

test('china time - malformed texts and impossible times are not read', () => {
  for (const text of [undefined, '', '2024010100040', '202401010004051', '2024-01-01 00:04:05', '20241301000000', 'abcdefghijklmn']) {
    expect(parseCompactChinaTime(text)).toBeUndefined();
  }
  // Not rolled over to 1 March or the next day.
  expect(parseCompactChinaTime('20250230120000')).toBeUndefined();
  expect(parseCompactChinaTime('20250101240000')).toBeUndefined();
  for (const text of [undefined, '2024-01-01T00:04:05', '2024-13-01 00:00:00', '20240101000405']) {
    expect(parseChinaDateTime(text)).toBeUndefined();
  }
  expect(() => chinaRfc3339(new Date(Number.NaN))).toThrow(/invalid date/);
});
