import { describeChar as show } from './expression/lexer.js';

/**
 * Turns the bytes of one record into a JSON value, or into a short, exact reason for the DLQ.
 * Positions are byte offsets into the record as received.
 */
export interface DecodeLimits {
  readonly maxBytes: number;
  /** Deepest nesting of arrays and objects allowed (a flat object is depth 1). */
  readonly maxDepth: number;
}

export type DecodeFailureCode = 'too_large' | 'empty' | 'invalid_utf8' | 'too_deep' | 'truncated_json' | 'invalid_json';

export type DecodeResult = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly code: DecodeFailureCode; readonly reason: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function decodeRecord(bytes: Uint8Array, limits: DecodeLimits): DecodeResult {
  if (bytes.length > limits.maxBytes) return failure('too_large', tooLargeReason(bytes.length, limits.maxBytes));
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    return failure('invalid_utf8', at.truncated ? `truncated UTF-8 sequence at byte ${at.offset}` : `invalid UTF-8 at byte ${at.offset}`);
  }
  // TextDecoder drops a leading byte order mark; positions below count it.
  const bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  // A text with no more brackets than the limit cannot nest deeper than it: most records skip the
  // scan (counting with indexOf is several times cheaper than the character loop).
  if (text.length > limits.maxDepth && bracketsOver(text, limits.maxDepth)) {
    const deep = findExcessNesting(text, limits.maxDepth);
    if (deep >= 0) return failure('too_deep', `nesting deeper than ${limits.maxDepth} levels at byte ${byteOffset(text, deep, bom)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // V8's messages quote the input and vary by version; find the place ourselves.
    return describeJsonError(text, bom);
  }
  if (typeof value === 'object' && value !== null && mayHoldRoundedNumber(bytes, text)) noteRoundedNumbers(text, value);
  return { ok: true, value };
}

/** The DLQ reason of a record over the size limit. */
export function tooLargeReason(bytes: number, maxBytes: number): string {
  return `record is ${bytes} bytes, over the limit of ${maxBytes}`;
}

function failure(code: DecodeFailureCode, reason: string): DecodeResult {
  return { ok: false, code, reason };
}

function byteOffset(text: string, index: number, bom: number): number {
  return bom + Buffer.byteLength(text.slice(0, index), 'utf8');
}

/** Where UTF-8 decoding fails (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF). */
export function firstInvalidUtf8(bytes: Uint8Array): { offset: number; truncated: boolean } {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] as number;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let low = 0x80;
    let high = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) low = 0xa0;
      if (b === 0xed) high = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) low = 0x90;
      if (b === 0xf4) high = 0x8f;
    } else return { offset: i, truncated: false };
    for (let k = 1; k <= need; k++) {
      if (i + k >= bytes.length) return { offset: i, truncated: true };
      const c = bytes[i + k] as number;
      if (c < (k === 1 ? low : 0x80) || c > (k === 1 ? high : 0xbf)) return { offset: i, truncated: false };
    }
    i += need + 1;
  }
  return { offset: bytes.length, truncated: false };
}

/** Whether `text` holds more than `limit` opening brackets (`[` and `{`, in strings or not). */
function bracketsOver(text: string, limit: number): boolean {
  let count = 0;
  for (let i = text.indexOf('{'); i !== -1; i = text.indexOf('{', i + 1)) if (++count > limit) return true;
  for (let i = text.indexOf('['); i !== -1; i = text.indexOf('[', i + 1)) if (++count > limit) return true;
  return false;
}

/** Index of the first `[` or `{` past `maxDepth`, or -1. Iterative: any depth costs one pass. */
export function findExcessNesting(text: string, maxDepth: number): number {
  let depth = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) return i;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return -1;
}

const Expect = { Value: 0, FirstValueOrEnd: 1, FirstKeyOrEnd: 2, Key: 3, Colon: 4, CommaOrEnd: 5 } as const;
type Expect = (typeof Expect)[keyof typeof Expect];

/** A non-recursive JSON scanner, run only after JSON.parse failed, to name the first mistake. */
function describeJsonError(text: string, bom: number): DecodeResult {
  const n = text.length;
  const open: number[] = [];
  const at = (index: number) => byteOffset(text, index, bom);
  const invalid = (index: number, what: string) => failure('invalid_json', `invalid JSON at byte ${at(index)}: ${what}`);
  const truncated = (what: string) => failure('truncated_json', `truncated JSON: ${what} at byte ${at(n)}`);
  let state: Expect = Expect.Value;
  let i = 0;
  for (;;) {
    while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
    if (i >= n) {
      if (open.length === 0 && state === Expect.Value) return failure('empty', 'record is empty');
      if (open.length === 0 && state === Expect.CommaOrEnd) return invalid(n, 'JSON.parse rejected the input');
      const pending = open.length === 0 ? 'a value' : `${open.length} unclosed ${open.length === 1 ? 'bracket' : 'brackets'}`;
      return truncated(`input ends with ${pending}`);
    }
    const c = text[i] as string;
    if (state === Expect.FirstValueOrEnd || state === Expect.FirstKeyOrEnd) {
      if (c === (state === Expect.FirstValueOrEnd ? ']' : '}')) {
        open.pop();
        state = Expect.CommaOrEnd;
        i++;
        continue;
      }
      state = state === Expect.FirstValueOrEnd ? Expect.Value : Expect.Key;
    }
    switch (state) {
      case Expect.Value: {
        if (c === '[' || c === '{') {
          open.push(c === '[' ? 0 : 1);
          state = c === '[' ? Expect.FirstValueOrEnd : Expect.FirstKeyOrEnd;
          i++;
          continue;
        }
        if (c === ']' || c === '}')
          return invalid(i, afterComma(text, i) ? `unexpected ${show(c)} after ',' (a trailing comma?)` : `expected a value, found ${show(c)}`);
        const end = scanScalar(text, i);
        if (end === 'truncated') return truncated(c === '"' ? 'input ends inside a string' : 'input ends inside a value');
        if (typeof end !== 'number') return invalid(end.at, end.what);
        i = end;
        state = Expect.CommaOrEnd;
        continue;
      }
      case Expect.Key: {
        if (c !== '"') return invalid(i, `expected a property name in double quotes, found ${show(c)}`);
        const end = scanString(text, i);
        if (end === 'truncated') return truncated('input ends inside a string');
        if (typeof end !== 'number') return invalid(end.at, end.what);
        i = end;
        state = Expect.Colon;
        continue;
      }
      case Expect.Colon:
        if (c !== ':') return invalid(i, `expected ':' after the property name, found ${show(c)}`);
        i++;
        state = Expect.Value;
        continue;
      case Expect.CommaOrEnd: {
        const top = open[open.length - 1];
        if (top === undefined) return invalid(i, `unexpected ${show(c)} after the JSON value`);
        const close = top === 0 ? ']' : '}';
        if (c === close) {
          open.pop();
          i++;
          continue;
        }
        if (c !== ',') return invalid(i, `expected ',' or '${close}', found ${show(c)}`);
        i++;
        state = top === 0 ? Expect.Value : Expect.Key;
        continue;
      }
    }
  }
}

interface ScanError {
  readonly at: number;
  readonly what: string;
}
type ScanResult = number | ScanError | 'truncated';

function afterComma(text: string, i: number): boolean {
  let j = i - 1;
  while (j >= 0 && (text[j] === ' ' || text[j] === '\t' || text[j] === '\n' || text[j] === '\r')) j--;
  return text[j] === ',';
}

/** End index of the scalar at `i`, 'truncated', or where and what is wrong. */
function scanScalar(text: string, i: number): ScanResult {
  const c = text[i] as string;
  if (c === '"') return scanString(text, i);
  if (c === '-' || (c >= '0' && c <= '9')) return scanNumber(text, i);
  for (const word of ['true', 'false', 'null']) {
    if (c !== word[0]) continue;
    const have = text.slice(i, i + word.length);
    if (have === word) return i + word.length;
    return word.startsWith(have) && i + have.length === text.length ? 'truncated' : { at: i, what: `unexpected ${show(c)}` };
  }
  return { at: i, what: `unexpected ${show(c)}` };
}

function scanString(text: string, start: number): ScanResult {
  let i = start + 1;
  while (i < text.length) {
    const code = text.charCodeAt(i);
    if (code === 0x22) return i + 1;
    if (code < 0x20) return { at: i, what: `control character ${show(text[i] as string)} inside a string (escape it)` };
    if (code === 0x5c) {
      const e = text[i + 1];
      if (e === undefined) return 'truncated';
      if (e === 'u') {
        const hex = text.slice(i + 2, i + 6);
        if (!/^[0-9a-fA-F]*$/.test(hex)) return { at: i, what: 'invalid \\u escape inside a string' };
        if (hex.length < 4) return 'truncated';
        i += 6;
        continue;
      }
      if (!'"\\/bfnrt'.includes(e)) return { at: i, what: `invalid escape '\\${e}' inside a string` };
      i += 2;
      continue;
    }
    i++;
  }
  return 'truncated';
}

function scanNumber(text: string, start: number): ScanResult {
  let i = start;
  const digits = () => {
    const from = i;
    while (i < text.length && text.charCodeAt(i) >= 0x30 && text.charCodeAt(i) <= 0x39) i++;
    return i - from;
  };
  const missingDigits = (what: string): ScanResult => (i >= text.length ? 'truncated' : { at: i, what: `invalid number: ${what}` });
  if (text[i] === '-') i++;
  if (text[i] === '0') i++;
  else if (digits() === 0) return missingDigits('expected a digit');
  if (text[i] === '.') {
    i++;
    if (digits() === 0) return missingDigits('digits must follow the decimal point');
  }
  if (text[i] === 'e' || text[i] === 'E') {
    i++;
    if (text[i] === '+' || text[i] === '-') i++;
    if (digits() === 0) return missingDigits('digits must follow the exponent');
  }
  return i;
}

// ---- numbers JSON.parse rounds ----
//
// JSON.parse gives every number literal as a double: 9007199254740993 arrives as 9007199254740992,
// 1e400 as Infinity. Whatever compares records by value (unique rules) must still tell them apart,
// so the decoder keeps the exact value of each such literal beside the parsed record: its canonical
// decimal text, by holder (the object or array holding it) and key. Node 20's JSON.parse gives no
// source text, so a second scan of the text finds them; mayHoldRoundedNumber keeps most records
// out of that scan.

/** Holder → key (array index as text) → canonical text of a number literal JSON.parse rounded. */
const roundedNumbers = new WeakMap<object, Map<string, string>>();
/** Every object and array holding such a literal at any depth (a holder, and each one above it). */
const holdsRoundedNumbers = new WeakSet<object>();

/**
 * Whether the record may hold a literal JSON.parse rounds: one needs more than 15 significant
 * digits (so a run of 16 or more digits and '.'), or an exponent of 3 digits or more (over- and
 * underflow; without one such a literal has hundreds of digits). A yes is only a candidate (the
 * run may be in a string): the scan decides per literal. Ordinary records cost a look at every
 * 16th byte and one regular expression.
 */
function mayHoldRoundedNumber(bytes: Uint8Array, text: string): boolean {
  return hasDigitRun16(bytes) || LONG_EXPONENT.test(text);
}

const LONG_EXPONENT = /[0-9][eE][+-]?[0-9]{3}/;

/**
 * A run of 16 or more digits and points, looking at every 16th byte (every such run holds one)
 * and, from a digit, back to where its run starts: the next run of 16 cannot end before 16 past it.
 */
function hasDigitRun16(bytes: Uint8Array): boolean {
  const n = bytes.length;
  let probe = 15;
  while (probe < n) {
    let at = probe;
    for (;;) {
      const b = bytes[at] as number;
      if (!((b >= 0x30 && b <= 0x39) || b === 0x2e)) break;
      if (--at < probe - 15) return true;
    }
    probe = at + 16;
  }
  return false;
}

/**
 * The exact value of a JSON number literal as text: the shortest decimal, written as JavaScript
 * writes numbers (Number.prototype.toString), so `1e3`, `1000` and `1000.0` are all `1000` and a
 * literal JSON.parse keeps exactly gives `String(JSON.parse(literal))`. Expects a valid literal.
 */
export function canonicalNumberText(literal: string): string {
  const negative = literal.charCodeAt(0) === 0x2d;
  let exponentAt = literal.indexOf('e');
  if (exponentAt === -1) exponentAt = literal.indexOf('E');
  const mantissa = literal.slice(negative ? 1 : 0, exponentAt === -1 ? literal.length : exponentAt);
  const dot = mantissa.indexOf('.');
  const integerDigits = dot === -1 ? mantissa.length : dot;
  let digits = dot === -1 ? mantissa : mantissa.slice(0, dot) + mantissa.slice(dot + 1);
  // value = 0.<digits> × 10^point; BigInt because the exponent can have any number of digits
  let point = BigInt(integerDigits) + (exponentAt === -1 ? 0n : BigInt(literal.slice(exponentAt + 1)));
  let first = 0;
  while (first < digits.length && digits.charCodeAt(first) === 0x30) first++;
  let end = digits.length;
  while (end > first && digits.charCodeAt(end - 1) === 0x30) end--;
  if (first === end) return '0';
  point -= BigInt(first);
  digits = digits.slice(first, end);
  const k = BigInt(digits.length);
  let text: string;
  if (k <= point && point <= 21n) text = digits + '0'.repeat(Number(point - k));
  else if (0n < point && point <= 21n) text = `${digits.slice(0, Number(point))}.${digits.slice(Number(point))}`;
  else if (-6n < point && point <= 0n) text = `0.${'0'.repeat(Number(-point))}${digits}`;
  else {
    const exponent = point - 1n;
    text = `${digits.length === 1 ? digits : `${digits[0]}.${digits.slice(1)}`}e${exponent < 0n ? '-' : '+'}${exponent < 0n ? -exponent : exponent}`;
  }
  return negative ? `-${text}` : text;
}

/**
 * The canonical text of the number at `holder[key]` when JSON.parse rounded its literal (the
 * holder came from `decodeRecord`); undefined for any other value.
 */
export function roundedNumberText(holder: object, key: string): string | undefined {
  return roundedNumbers.get(holder)?.get(key);
}

/** Whether `value` (from `decodeRecord`) holds, at any depth, a number literal JSON.parse rounded. */
export function holdsRoundedNumber(value: unknown): boolean {
  return typeof value === 'object' && value !== null && holdsRoundedNumbers.has(value);
}

/**
 * `JSON.stringify(value)`, except that numbers JSON.parse rounded are written with their exact
 * canonical text: the JSON text of the value as the record wrote it. For a value without such a
 * number (nearly all), it is `JSON.stringify` itself; so it is for a record that is a bare number
 * (there is no holder to keep its text by).
 */
export function exactJson(value: unknown): string {
  if (!holdsRoundedNumber(value)) return JSON.stringify(value);
  const holder = value as object;
  const rounded = roundedNumbers.get(holder);
  const member = (key: string, inner: unknown): string => (typeof inner === 'number' ? rounded?.get(key) : undefined) ?? exactJson(inner);
  if (Array.isArray(holder)) return `[${holder.map((inner: unknown, index) => member(String(index), inner)).join(',')}]`;
  const entries = Object.keys(holder).map((key) => `${JSON.stringify(key)}:${member(key, (holder as Record<string, unknown>)[key])}`);
  return `{${entries.join(',')}}`;
}

interface ScanFrame {
  /** The parsed container this bracket opened; undefined when the text and the value disagree (a duplicate key's earlier value). */
  readonly holder: object | undefined;
  readonly isArray: boolean;
  /** Key of the member being read: the property name, or the array index as text. */
  key: string;
  index: number;
  expectKey: boolean;
}

/**
 * Walks the (valid) JSON text beside its parsed value and notes every number literal JSON.parse
 * rounded. Duplicate keys: JSON.parse keeps the last member, and so does this walk (a later
 * member under the same key clears what an earlier one noted).
 */
function noteRoundedNumbers(text: string, root: object): void {
  const stack: ScanFrame[] = [];
  const n = text.length;
  let i = 0;
  const valueStarts = (): ScanFrame | undefined => {
    const frame = stack[stack.length - 1];
    if (frame?.isArray) frame.key = String(++frame.index);
    return frame;
  };
  const forget = (frame: ScanFrame | undefined): void => {
    if (frame?.holder !== undefined) roundedNumbers.get(frame.holder)?.delete(frame.key);
  };
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x7b || c === 0x5b) {
      // { or [
      const parent = valueStarts();
      forget(parent);
      let holder: object | undefined;
      if (parent === undefined) holder = root;
      else if (parent.holder !== undefined && Object.hasOwn(parent.holder, parent.key)) {
        const inner: unknown = (parent.holder as Record<string, unknown>)[parent.key];
        if (typeof inner === 'object' && inner !== null && Array.isArray(inner) === (c === 0x5b)) holder = inner;
      }
      stack.push({ holder, isArray: c === 0x5b, key: '', index: -1, expectKey: c === 0x7b });
      i++;
    } else if (c === 0x7d || c === 0x5d) {
      stack.pop();
      i++;
    } else if (c === 0x2c) {
      const frame = stack[stack.length - 1];
      if (frame !== undefined && !frame.isArray) frame.expectKey = true;
      i++;
    } else if (c === 0x22) {
      const start = i;
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
      i++;
      const frame = stack[stack.length - 1];
      if (frame?.expectKey) {
        const raw = text.slice(start + 1, i - 1);
        frame.key = raw.includes('\\') ? (JSON.parse(text.slice(start, i)) as string) : raw;
        frame.expectKey = false;
      } else {
        forget(valueStarts());
      }
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      const start = i;
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (!((d >= 0x30 && d <= 0x39) || d === 0x2e || d === 0x65 || d === 0x45 || d === 0x2b || d === 0x2d)) break;
      }
      const frame = valueStarts();
      if (frame?.holder === undefined) continue;
      const literal = text.slice(start, i);
      // Under 16 characters without an exponent: at most 15 digits, in the normal range, exact.
      const exact = literal.length < 16 && !/[eE]/.test(literal) ? undefined : canonicalNumberText(literal);
      if (exact === undefined || exact === String(Number(literal))) {
        forget(frame);
        continue;
      }
      let noted = roundedNumbers.get(frame.holder);
      if (noted === undefined) {
        noted = new Map();
        roundedNumbers.set(frame.holder, noted);
      }
      noted.set(frame.key, exact);
      for (const above of stack) if (above.holder !== undefined) holdsRoundedNumbers.add(above.holder);
    } else if (c === 0x74 || c === 0x66 || c === 0x6e) {
      // true, false, null
      forget(valueStarts());
      i += c === 0x66 ? 5 : 4;
    } else {
      i++; // white space and ':'
    }
  }
}
