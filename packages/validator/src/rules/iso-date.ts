/**
 * ISO 8601 calendar dates and date-times, the forms records actually carry:
 * `2024-05-01`, `2024-05-01T10:15:00Z`, `2024-05-01T10:15:00.250+02:00`, `2024-05-01 10:15`.
 * A date alone is midnight UTC; a date-time without an offset is taken as UTC.
 * Returns epoch milliseconds, or NaN when the text is not such a date (including 2023-02-29).
 */
// Anchored, no nested quantifiers: linear on any input.
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?([Zz]|[+-]\d{2}:\d{2})?)?$/;

/** The last few texts parsed: a record's dates are read by several rules in turn. */
const recentTexts = ['', '', '', ''];
const recentTimes = [Number.NaN, Number.NaN, Number.NaN, Number.NaN];
let next = 0;

export function parseIsoDate(text: string): number {
  if (text.length > 40) return Number.NaN;
  for (let i = 0; i < recentTexts.length; i++) if (recentTexts[i] === text) return recentTimes[i] as number;
  const time = parse(text);
  recentTexts[next] = text;
  recentTimes[next] = time;
  next = (next + 1) % recentTexts.length;
  return time;
}

function parse(text: string): number {
  const m = ISO.exec(text);
  if (m === null) return Number.NaN;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return Number.NaN;
  if (m[4] === undefined) return utc(year, month, day, 0, 0, 0, 0);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  if (hour > 23 || minute > 59 || second > 59) return Number.NaN;
  const millis = m[7] === undefined ? 0 : Number(m[7].padEnd(3, '0').slice(0, 3));
  let offsetMinutes = 0;
  const zone = m[8];
  if (zone !== undefined && zone !== 'Z' && zone !== 'z') {
    const hours = Number(zone.slice(1, 3));
    const minutes = Number(zone.slice(4, 6));
    if (hours > 23 || minutes > 59) return Number.NaN;
    offsetMinutes = (zone[0] === '-' ? -1 : 1) * (hours * 60 + minutes);
  }
  return utc(year, month, day, hour, minute, second, millis) - offsetMinutes * 60_000;
}

function utc(year: number, month: number, day: number, hour: number, minute: number, second: number, millis: number): number {
  if (year >= 100) return Date.UTC(year, month - 1, day, hour, minute, second, millis);
  // Date.UTC maps years 0-99 to 1900-1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, millis);
  return date.getTime();
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}
