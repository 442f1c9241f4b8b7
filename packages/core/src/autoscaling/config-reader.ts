/**
 * Small readers for scaling configuration from YAML/JSON (or KEDA-style string metadata). Each
 * reader records `path: message` in a shared list instead of throwing, so a config with three
 * mistakes is reported once with all three (ScalingConfigError), and returns a usable default so
 * the remaining checks still run.
 */

export type ConfigObject = Readonly<Record<string, unknown>>;

export function joinPath(base: string, key: string | number): string {
  return base === '' ? String(key) : `${base}.${key}`;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

/** undefined stands for "all defaults" ({}); anything else must be a plain object. */
export function readObject(raw: unknown, path: string, problems: string[]): ConfigObject | null {
  if (raw === undefined) return {};
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    problems.push(`${path === '' ? '(root)' : path}: must be an object, got ${describe(raw)}`);
    return null;
  }
  return raw as ConfigObject;
}

/** Typos are mistakes: an unknown key is reported with the keys that are allowed. */
export function rejectUnknownKeys(obj: ConfigObject, allowed: readonly string[], path: string, problems: string[]): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) problems.push(`${joinPath(path, key)}: unknown key (allowed: ${allowed.join(', ')})`);
  }
}

export interface IntegerRule {
  readonly min?: number;
  readonly max?: number;
  /** Replaces the generic range message, e.g. "must be a positive integer". */
  readonly message?: string;
}

function rangeMessage(rule: IntegerRule): string {
  if (rule.message !== undefined) return rule.message;
  if (rule.min !== undefined && rule.max !== undefined) return `must be an integer between ${rule.min} and ${rule.max}`;
  if (rule.min !== undefined) return `must be an integer >= ${rule.min}`;
  if (rule.max !== undefined) return `must be an integer <= ${rule.max}`;
  return 'must be an integer';
}

/** Checks an integer already taken out of its object (e.g. an array element's field). */
export function checkInteger(value: unknown, path: string, problems: string[], rule: IntegerRule = {}): number | null {
  // KEDA trigger metadata are strings ("100"); accept them so a ScaledObject can be copied verbatim.
  const parsed = typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : value;
  if (typeof parsed !== 'number' || !Number.isSafeInteger(parsed)) {
    problems.push(`${path}: ${rangeMessage(rule)}, got ${describe(value)}`);
    return null;
  }
  if ((rule.min !== undefined && parsed < rule.min) || (rule.max !== undefined && parsed > rule.max)) {
    problems.push(`${path}: ${rangeMessage(rule)}, got ${parsed}`);
    return null;
  }
  return parsed;
}

export function readInteger(obj: ConfigObject, key: string, path: string, problems: string[], fallback: number, rule: IntegerRule = {}): number {
  const value = obj[key];
  if (value === undefined) return fallback;
  return checkInteger(value, joinPath(path, key), problems, rule) ?? fallback;
}

export function readNumber(obj: ConfigObject, key: string, path: string, problems: string[], fallback: number, rule: { min: number; max: number }): number {
  const value = obj[key];
  if (value === undefined) return fallback;
  const parsed = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof parsed !== 'number' || !Number.isFinite(parsed) || parsed < rule.min || parsed > rule.max) {
    problems.push(`${joinPath(path, key)}: must be a number between ${rule.min} and ${rule.max}, got ${describe(value)}`);
    return fallback;
  }
  return parsed;
}

export function readBoolean(obj: ConfigObject, key: string, path: string, problems: string[], fallback: boolean): boolean {
  const value = obj[key];
  if (value === undefined) return fallback;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && /^(true|false)$/i.test(value.trim())) return value.trim().toLowerCase() === 'true';
  problems.push(`${joinPath(path, key)}: must be true or false, got ${describe(value)}`);
  return fallback;
}

export function readChoice<T extends string>(obj: ConfigObject, key: string, path: string, problems: string[], choices: readonly T[], fallback: T): T {
  const value = obj[key];
  if (value === undefined) return fallback;
  if (typeof value === 'string' && (choices as readonly string[]).includes(value)) return value as T;
  problems.push(`${joinPath(path, key)}: must be one of ${choices.join(', ')}, got ${describe(value)}`);
  return fallback;
}
