// China time (UTC+8 all year, no daylight saving) in the shapes the providers write it: every
// provider dates its fields, bills and notifications in it. Defined once here; each adapter
// names the shape its protocol uses (WeChat Pay's RFC 3339 fields, UnionPay's txnTime, …).

import assert from 'node:assert/strict';

const china_offset_ms = 8 * 60 * 60 * 1000;

/** The instant as an ISO string of China wall-clock time (the 'Z' is not meaningful). */
function chinaWallClock(date: Date): string {
  return new Date(date.getTime() + china_offset_ms).toISOString();
}

/** The China calendar date (YYYY-MM-DD) of an instant: bills are cut at 00:00 China time. */
export function chinaDate(date: Date): string {
  return chinaWallClock(date).slice(0, 10);
}

/** "yyyy-MM-dd HH:mm:ss" in China time (Alipay timestamps, both bills' time columns). */
export function chinaDateTime(date: Date): string {
  return chinaWallClock(date).slice(0, 19).replace('T', ' ');
}

/** "yyyy-MM-dd HH:mm:ss" read as China time; undefined when not that shape. */
export function parseChinaDateTime(text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(text.trim());
  if (match === null) return undefined;
  const date = new Date(`${match[1]}-${match[2]}-${match[3]}T${match[4]}:${match[5]}:${match[6]}+08:00`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** RFC 3339 in China time, second precision: 2018-06-08T10:34:56+08:00. */
export function chinaRfc3339(date: Date): string {
  assert(!Number.isNaN(date.getTime()), 'invalid date');
  return `${chinaWallClock(date).slice(0, 19)}+08:00`;
}

/** yyyyMMddHHmmss in China time (WeChat Pay v2 time fields, UnionPay txnTime, the bank gateway). */
export function compactChinaTime(date: Date): string {
  return chinaRfc3339(date).slice(0, 19).replace(/[-T:]/g, '');
}

/** yyyyMMddHHmmss read as China time; undefined when not that shape or not a real time (a
 * 30 February or a 24th hour is not read as the instant it would roll over to). */
export function parseCompactChinaTime(text: string | undefined): Date | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(text ?? '');
  if (match === null) return undefined;
  const date = new Date(`${match[1]}-${match[2]}-${match[3]}T${match[4]}:${match[5]}:${match[6]}+08:00`);
  return Number.isNaN(date.getTime()) || compactChinaTime(date) !== text ? undefined : date;
}
