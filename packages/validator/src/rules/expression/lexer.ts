import { ExpressionSyntaxError } from './errors.js';

export type TokenKind = 'number' | 'string' | 'identifier' | 'pointer' | 'root' | 'operator' | 'end';

export interface Token {
  readonly kind: TokenKind;
  /** Operator or identifier text; the raw text for literals. */
  readonly text: string;
  /** The decoded value of a number, string or pointer literal. */
  readonly value: number | string | null;
  /** 1-based column of the token's first character. */
  readonly column: number;
}

const OPERATORS_2 = new Set(['==', '!=', '<=', '>=', '&&', '||']);
const OPERATORS_1 = new Set(['(', ')', '[', ']', ',', '.', '+', '-', '*', '/', '%', '!', '<', '>']);
const ESCAPES: Readonly<Record<string, string>> = { '\\': '\\', "'": "'", '"': '"', '/': '/', n: '\n', r: '\r', t: '\t', b: '\b', f: '\f' };

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isIdentStart = (c: string | undefined): boolean => c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_');
const isIdentPart = (c: string | undefined): boolean => isIdentStart(c) || isDigit(c);

export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i] as string;
    const column = i + 1;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (isDigit(c)) {
      const start = i;
      while (isDigit(source[i])) i++;
      if (source[i] === '.' && isDigit(source[i + 1])) {
        i++;
        while (isDigit(source[i])) i++;
      }
      if (source[i] === 'e' || source[i] === 'E') {
        let j = i + 1;
        if (source[j] === '+' || source[j] === '-') j++;
        if (!isDigit(source[j])) throw new ExpressionSyntaxError('expected digits in the exponent of the number', j + 1);
        while (isDigit(source[j])) j++;
        i = j;
      }
      if (isIdentStart(source[i])) throw new ExpressionSyntaxError(`unexpected '${source[i]}' right after a number`, i + 1);
      const text = source.slice(start, i);
      const value = Number(text);
      if (!Number.isFinite(value)) throw new ExpressionSyntaxError(`number ${text} is too large`, column);
      tokens.push({ kind: 'number', text, value, column });
      continue;
    }
    if (c === '"' || c === "'") {
      const { value, end } = readString(source, i);
      tokens.push({ kind: 'string', text: source.slice(i, end), value, column });
      i = end;
      continue;
    }
    if (c === '$') {
      const next = source[i + 1];
      if (next === '"' || next === "'") {
        const { value, end } = readString(source, i + 1);
        tokens.push({ kind: 'pointer', text: source.slice(i, end), value, column });
        i = end;
      } else {
        tokens.push({ kind: 'root', text: '$', value: null, column });
        i++;
      }
      continue;
    }
    if (isIdentStart(c)) {
      const start = i;
      while (isIdentPart(source[i])) i++;
      tokens.push({ kind: 'identifier', text: source.slice(start, i), value: null, column });
      continue;
    }
    const two = source.slice(i, i + 2);
    if (OPERATORS_2.has(two)) {
      tokens.push({ kind: 'operator', text: two, value: null, column });
      i += 2;
      continue;
    }
    if (OPERATORS_1.has(c)) {
      tokens.push({ kind: 'operator', text: c, value: null, column });
      i++;
      continue;
    }
    if (c === '=') throw new ExpressionSyntaxError("'=' is not an operator; compare with '=='", column);
    if (c === '&') throw new ExpressionSyntaxError("'&' is not an operator; use '&&'", column);
    if (c === '|') throw new ExpressionSyntaxError("'|' is not an operator; use '||'", column);
    throw new ExpressionSyntaxError(`unexpected character ${describeChar(c)}`, column);
  }
  tokens.push({ kind: 'end', text: '', value: null, column: source.length + 1 });
  return tokens;
}

function readString(source: string, start: number): { value: string; end: number } {
  const quote = source[start];
  let value = '';
  let i = start + 1;
  while (i < source.length) {
    const c = source[i] as string;
    if (c === quote) return { value, end: i + 1 };
    if (c === '\\') {
      const e = source[i + 1];
      if (e === 'u') {
        const hex = source.slice(i + 2, i + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new ExpressionSyntaxError('\\u must be followed by 4 hex digits', i + 1);
        value += String.fromCharCode(Number.parseInt(hex, 16));
        i += 6;
        continue;
      }
      const decoded = e === undefined ? undefined : ESCAPES[e];
      if (decoded === undefined) throw new ExpressionSyntaxError(`unknown escape ${e === undefined ? '\\' : `'\\${e}'`} in string`, i + 1);
      value += decoded;
      i += 2;
      continue;
    }
    value += c;
    i++;
  }
  throw new ExpressionSyntaxError('unterminated string', start + 1);
}

export function describeChar(c: string): string {
  const code = c.codePointAt(0) ?? 0;
  return code < 0x20 || code > 0x7e ? `U+${code.toString(16).toUpperCase().padStart(4, '0')}` : `'${c}'`;
}
