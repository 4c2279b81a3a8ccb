// Local wall-clock time in a time zone (service windows, the calendar day and month of the
// limit counters) and the service-window test. Pure; Intl formatters are cached per zone.

import type { ServiceWindows, TimeRange, Weekday } from './types';
import { weekdays } from './types';

export interface LocalTime {
  /** 0 = MON … 6 = SUN. */
  weekday: number;
  /** Minutes since local midnight, 0–1439. */
  minute_of_day: number;
  /** 'YYYYMMDD' and 'YYYYMM'. */
  day: string;
  month: string;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const weekday_index: Record<string, number> = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };

function formatter(time_zone: string): Intl.DateTimeFormat {
  let f = formatters.get(time_zone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: time_zone, hourCycle: 'h23', weekday: 'short',
      year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
    });
    formatters.set(time_zone, f);
  }
  return f;
}

export function isTimeZone(time_zone: string): boolean {
  try {
    formatter(time_zone);
    return true;
  } catch {
    return false;
  }
}

/** The last answer per zone: every decision of the same minute asks the same question
 * (Intl's formatToParts is the costliest step of an in-process decision). Zone offsets change
 * on whole minutes, so one minute has one answer. */
const last_minute = new Map<string, { minute: number; local: LocalTime }>();

export function localTime(at: Date, time_zone: string): LocalTime {
  const minute = Math.floor(at.getTime() / 60_000);
  const cached = last_minute.get(time_zone);
  if (cached !== undefined && cached.minute === minute) return cached.local;
  const local = Object.freeze(formatLocalTime(at, time_zone));
  last_minute.set(time_zone, { minute, local });
  return local;
}

function formatLocalTime(at: Date, time_zone: string): LocalTime {
  const parts: Record<string, string> = {};
  for (const p of formatter(time_zone).formatToParts(at)) parts[p.type] = p.value;
  return {
    weekday: weekday_index[parts.weekday!] ?? 0,
    minute_of_day: Number(parts.hour) * 60 + Number(parts.minute),
    day: `${parts.year}${parts.month}${parts.day}`,
    month: `${parts.year}${parts.month}`,
  };
}

const clock_pattern = /^([01][0-9]|2[0-3]):([0-5][0-9])$/;

/** 'HH:MM' → minutes; '24:00' is allowed as an end. undefined when malformed. */
export function parseClock(text: string, is_end = false): number | undefined {
  if (is_end && text === '24:00') return 1440;
  const m = clock_pattern.exec(text);
  return m === null ? undefined : Number(m[1]) * 60 + Number(m[2]);
}

function onDay(range: TimeRange, weekday: number): boolean {
  return range.days.length === 0 || range.days.includes(weekdays[weekday] as Weekday);
}

/** Whether `local` falls in the range. A range whose end is not after its start spans
 * midnight and belongs to the day it starts on. */
function inRange(range: TimeRange, local: LocalTime): boolean {
  const start = parseClock(range.start)!;
  const end = parseClock(range.end, true)!;
  const m = local.minute_of_day;
  if (start < end) return onDay(range, local.weekday) && m >= start && m < end;
  const yesterday = (local.weekday + 6) % 7;
  return (onDay(range, local.weekday) && m >= start) || (onDay(range, yesterday) && m < end);
}

/** undefined when open now; otherwise why not, for the explanation. */
export function windowClosedReason(windows: ServiceWindows, at: Date): string | undefined {
  if (windows.open.length === 0 && windows.closed.length === 0) return undefined;
  const local = localTime(at, windows.time_zone);
  const closed = windows.closed.find((r) => inRange(r, local));
  if (closed !== undefined) return `inside closed window ${describeRange(closed)} ${windows.time_zone}`;
  if (windows.open.length > 0 && !windows.open.some((r) => inRange(r, local))) {
    return `outside open windows ${windows.open.map(describeRange).join(', ')} ${windows.time_zone}`;
  }
  return undefined;
}

function describeRange(r: TimeRange): string {
  return `${r.days.length === 0 ? 'daily' : r.days.join(',')} ${r.start}-${r.end}`;
}
