import { localTime, windowClosedReason } from './windows';
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
