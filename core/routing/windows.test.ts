import { isTimeZone, localTime, parseClock, windowClosedReason } from './windows';
import type { ServiceWindows } from './types';

const maintenance: ServiceWindows = { time_zone: 'Asia/Shanghai', open: [], closed: [{ days: [], start: '23:30', end: '00:30' }] };
const b2b_hours: ServiceWindows = {
  time_zone: 'Asia/Shanghai',
  open: [{ days: ['MON', 'TUE', 'WED', 'THU', 'FRI'], start: '09:00', end: '17:00' }],
  closed: [],
};

// 2025-01-06 is a Monday. Shanghai is UTC+8 all year.
test.each<[string, ServiceWindows, string, boolean]>([
  ['maintenance: 23:29 Shanghai is open', maintenance, '2025-01-06T15:29:00Z', true],
  ['maintenance: 23:30 Shanghai is closed', maintenance, '2025-01-06T15:30:00Z', false],
  ['maintenance: 00:29 next day is closed (spans midnight)', maintenance, '2025-01-06T16:29:00Z', false],
  ['maintenance: 00:30 next day is open', maintenance, '2025-01-06T16:30:00Z', true],
  ['b2b: Monday 09:00 is open', b2b_hours, '2025-01-06T01:00:00Z', true],
  ['b2b: Monday 08:59 is closed', b2b_hours, '2025-01-06T00:59:00Z', false],
  ['b2b: Monday 17:00 is closed (end exclusive)', b2b_hours, '2025-01-06T09:00:00Z', false],
  ['b2b: Saturday noon is closed', b2b_hours, '2025-01-11T04:00:00Z', false],
  ['b2b: Sunday 23:00 UTC is Monday 07:00 Shanghai, closed', b2b_hours, '2025-01-12T23:00:00Z', false],
  ['no windows: always open', { time_zone: 'Asia/Shanghai', open: [], closed: [] }, '2025-01-11T04:00:00Z', true],
])('routing - service window %s', (_name, windows, at, open) => {
  expect(windowClosedReason(windows, new Date(at)) === undefined).toBe(open);
});

test('routing - calendar day and month follow the time zone', () => {
  expect(localTime(new Date('2025-01-31T16:30:00Z'), 'Asia/Shanghai')).toEqual({ weekday: 5, minute_of_day: 30, day: '20250201', month: '202502' });
  expect(localTime(new Date('2025-01-31T16:30:00Z'), 'UTC').day).toBe('20250131');
});

test('routing - the closed reason names the window and the zone', () => {
  expect(windowClosedReason(maintenance, new Date('2025-01-06T15:45:00Z'))).toBe('inside closed window daily 23:30-00:30 Asia/Shanghai');
  expect(windowClosedReason(b2b_hours, new Date('2025-01-11T04:00:00Z'))).toBe('outside open windows MON,TUE,WED,THU,FRI 09:00-17:00 Asia/Shanghai');
});

test('routing - a closed window wins over an open one', () => {
  const both: ServiceWindows = { ...b2b_hours, closed: [{ days: ['MON'], start: '12:00', end: '13:00' }] };
  expect(windowClosedReason(both, new Date('2025-01-06T04:30:00Z'))).toBe('inside closed window MON 12:00-13:00 Asia/Shanghai');
  expect(windowClosedReason(both, new Date('2025-01-07T04:30:00Z'))).toBeUndefined();
});

// A Friday-night batch window 22:00-02:00: the early hours belong to the Friday it started on.
const friday_batch: ServiceWindows = { time_zone: 'UTC', open: [], closed: [{ days: ['FRI'], start: '22:00', end: '02:00' }] };
test.each<[string, string, boolean]>([
  ['Friday 21:59 is open', '2025-01-10T21:59:00Z', true],
  ['Friday 22:00 is closed', '2025-01-10T22:00:00Z', false],
  ['Saturday 01:59 is closed (Friday\'s window)', '2025-01-11T01:59:00Z', false],
  ['Saturday 02:00 is open', '2025-01-11T02:00:00Z', true],
  ['Saturday 23:00 is open (not a Friday)', '2025-01-11T23:00:00Z', true],
  ['Friday 01:00 is open (Thursday has no window)', '2025-01-10T01:00:00Z', true],
])('routing - a window over midnight on named days: %s', (_name, at, open) => {
  expect(windowClosedReason(friday_batch, new Date(at)) === undefined).toBe(open);
});

test.each<[string, string, boolean]>([
  ['19:59 is closed', '2025-01-06T19:59:00Z', false],
  ['20:00 is open', '2025-01-06T20:00:00Z', true],
  ['23:59 is open (24:00 ends the day)', '2025-01-06T23:59:00Z', true],
  ['00:00 is closed', '2025-01-07T00:00:00Z', false],
])('routing - an evening window to 24:00: %s', (_name, at, open) => {
  const evening: ServiceWindows = { time_zone: 'UTC', open: [{ days: [], start: '20:00', end: '24:00' }], closed: [] };
  expect(windowClosedReason(evening, new Date(at)) === undefined).toBe(open);
});

test('routing - clock times: HH:MM from 00:00 to 23:59, and 24:00 only as an end', () => {
  expect(parseClock('00:00')).toBe(0);
  expect(parseClock('23:59')).toBe(1439);
  expect(parseClock('09:05')).toBe(545);
  expect(parseClock('24:00')).toBeUndefined();
  expect(parseClock('24:00', true)).toBe(1440);
  for (const bad of ['9:00', '24:01', '23:60', '12:00 ', 'x12:00', '']) expect(parseClock(bad, true)).toBeUndefined();
});

test('routing - time zones: a known IANA name is one, anything else is not', () => {
  expect(isTimeZone('Asia/Shanghai')).toBe(true);
  expect(isTimeZone('Mars/Olympus_Mons')).toBe(false);
});

test('routing - weekdays and minutes of the day in the zone', () => {
  expect(localTime(new Date('2025-01-12T15:59:00Z'), 'Asia/Shanghai')).toEqual({ weekday: 6, minute_of_day: 1439, day: '20250112', month: '202501' });
  expect(localTime(new Date('2025-01-06T00:00:00Z'), 'UTC')).toEqual({ weekday: 0, minute_of_day: 0, day: '20250106', month: '202501' });
  expect(localTime(new Date('2025-01-07T13:07:00Z'), 'UTC')).toMatchObject({ weekday: 1, minute_of_day: 787 });
});

test('routing - a window whose end equals its start spans the whole day from that time', () => {
  const all_day: ServiceWindows = { time_zone: 'UTC', open: [], closed: [{ days: [], start: '12:00', end: '12:00' }] };
  for (const at of ['2025-01-06T12:00:00Z', '2025-01-06T23:59:00Z', '2025-01-07T00:00:00Z', '2025-01-07T11:59:00Z']) {
    expect(windowClosedReason(all_day, new Date(at))).toBe('inside closed window daily 12:00-12:00 UTC');
  }
});

test('routing - any one of several open windows will do, and all are named when none is open', () => {
  const split: ServiceWindows = { time_zone: 'UTC', open: [{ days: ['MON'], start: '09:00', end: '12:00' }, { days: ['MON'], start: '14:00', end: '17:00' }], closed: [] };
  expect(windowClosedReason(split, new Date('2025-01-06T15:00:00Z'))).toBeUndefined();
  expect(windowClosedReason(split, new Date('2025-01-06T10:00:00Z'))).toBeUndefined();
  expect(windowClosedReason(split, new Date('2025-01-06T13:00:00Z'))).toBe('outside open windows MON 09:00-12:00, MON 14:00-17:00 UTC');
});
