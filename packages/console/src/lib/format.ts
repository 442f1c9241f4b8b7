/** Display formatting, pure so the tables and charts read the same everywhere. */

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

export const MISSING = '—';

export function formatCount(value: number | null | undefined): string {
  return value === null || value === undefined || !Number.isFinite(value) ? MISSING : integer.format(value);
}

/** A group's lag; `≥` marks a lower bound (some partition's lag is unknown). */
export function formatLag(lag: number | null, complete = true): string {
  if (lag === null) return MISSING;
  return complete ? integer.format(lag) : `≥ ${integer.format(lag)}`;
}

/** Records per second. */
export function formatRate(rate: number | null | undefined): string {
  if (rate === null || rate === undefined || !Number.isFinite(rate)) return MISSING;
  return `${rate < 10 ? decimal.format(rate) : integer.format(rate)}/s`;
}

/** A duration in seconds for people: `0.4 s`, `42 s`, `3 min 05 s`, `2 h 03 min`. */
export function formatSeconds(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return MISSING;
  if (seconds < 10) return `${decimal.format(seconds)} s`;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const whole = Math.round(seconds);
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, '0')} s`;
  const minutes = Math.floor(whole / 60);
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

/** A short duration for chart axes: `45 s`, `12 min`, `2 h`. */
export function formatSecondsShort(seconds: number): string {
  if (seconds < 60) return `${decimal.format(seconds)} s`;
  if (seconds < 3600) return `${decimal.format(seconds / 60)} min`;
  return `${decimal.format(seconds / 3600)} h`;
}

function pad(value: number): string {
  return String(value).padStart(2, '0');
}

/** Local wall-clock time `HH:MM:SS`, for chart axes and logs. */
export function formatClock(time: number): string {
  const date = new Date(time);
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** Local `YYYY-MM-DD HH:MM:SS`. */
export function formatDateTime(time: number | null | undefined): string {
  if (time === null || time === undefined) return MISSING;
  const date = new Date(time);
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${formatClock(time)}`;
}

/**
 * A job's progress (0..1, null while the total is unknown) as a whole percentage. Rounded down so
 * 100 means every record is done, never "almost".
 */
export function progressPercent(progress: number | null | undefined): number | null {
  if (progress === null || progress === undefined || !Number.isFinite(progress)) return null;
  return Math.max(0, Math.min(100, Math.floor(progress * 100 + 1e-9)));
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${decimal.format(bytes / 1024)} KiB`;
  if (bytes < 1024 * 1024 * 1024) return `${decimal.format(bytes / (1024 * 1024))} MiB`;
  return `${decimal.format(bytes / (1024 * 1024 * 1024))} GiB`;
}

/** `scale_up` → `scale up`. */
export function humanize(code: string): string {
  return code.replaceAll('_', ' ');
}
