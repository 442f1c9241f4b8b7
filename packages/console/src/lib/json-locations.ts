import type { ErrorDetail } from '../api/types';

/**
 * Where each value of a JSON text starts, by JSON pointer, so a server error at `/rules/3/pattern`
 * can name the line it is on. A small recursive-descent reader: JSON.parse gives values, not
 * positions, and its syntax messages differ between browsers.
 */
export interface JsonLocations {
  /** Offset of each value ('' is the whole document); for object members, the offset of the key. */
  readonly pointers: ReadonlyMap<string, number>;
  /** The first syntax mistake, or null when the text is valid JSON. */
  readonly syntaxError: { readonly offset: number; readonly message: string } | null;
}

class JsonSyntaxError extends Error {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

export function escapePointerToken(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1');
}

function describe(char: string | undefined): string {
  return char === undefined ? 'the end of the text' : `'${char}'`;
}

export function locateJson(text: string): JsonLocations {
  const pointers = new Map<string, number>();
  let position = 0;

  const skipWhitespace = () => {
    while (position < text.length && ' \t\n\r'.includes(text.charAt(position))) position += 1;
  };
  const fail = (message: string): never => {
    throw new JsonSyntaxError(position, message);
  };
  const expect = (char: string) => {
    if (text[position] !== char) fail(`expected '${char}', found ${describe(text[position])}`);
    position += 1;
  };

  const readString = (): string => {
    expect('"');
    let value = '';
    for (;;) {
      const char = text[position];
      if (char === undefined) return fail('unterminated string');
      if (char === '"') {
        position += 1;
        return value;
      }
      if (char === '\\') {
        const escaped = text[position + 1];
        if (escaped === 'u') {
          const hex = text.slice(position + 2, position + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('invalid \\u escape');
          value += String.fromCharCode(Number.parseInt(hex, 16));
          position += 6;
          continue;
        }
        const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        const decoded = escaped === undefined ? undefined : simple[escaped];
        if (decoded === undefined) fail(`invalid escape '\\${escaped ?? ''}'`);
        value += decoded;
        position += 2;
        continue;
      }
      if (char < ' ') fail('control character in string (use \\n, \\t ...)');
      value += char;
      position += 1;
    }
  };

  const readValue = (pointer: string): void => {
    skipWhitespace();
    if (!pointers.has(pointer)) pointers.set(pointer, position);
    const char = text[position];
    if (char === '{') {
      position += 1;
      skipWhitespace();
      if (text[position] === '}') {
        position += 1;
        return;
      }
      for (;;) {
        skipWhitespace();
        const keyOffset = position;
        if (text[position] !== '"') fail(`expected a property name in double quotes, found ${describe(text[position])}`);
        const key = readString();
        const child = `${pointer}/${escapePointerToken(key)}`;
        pointers.set(child, keyOffset);
        skipWhitespace();
        expect(':');
        readValue(child);
        skipWhitespace();
        if (text[position] === ',') {
          position += 1;
          continue;
        }
        if (text[position] === '}') {
          position += 1;
          return;
        }
        fail(`expected ',' or '}' after a property value, found ${describe(text[position])}`);
      }
    }
    if (char === '[') {
      position += 1;
      skipWhitespace();
      if (text[position] === ']') {
        position += 1;
        return;
      }
      for (let index = 0; ; index += 1) {
        readValue(`${pointer}/${index}`);
        skipWhitespace();
        if (text[position] === ',') {
          position += 1;
          continue;
        }
        if (text[position] === ']') {
          position += 1;
          return;
        }
        fail(`expected ',' or ']' after an array element, found ${describe(text[position])}`);
      }
    }
    if (char === '"') {
      readString();
      return;
    }
    for (const literal of ['true', 'false', 'null']) {
      if (text.startsWith(literal, position)) {
        position += literal.length;
        return;
      }
    }
    const number = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(position, position + 400));
    if (number) {
      position += number[0].length;
      return;
    }
    fail(`expected a value, found ${describe(char)}`);
  };

  try {
    readValue('');
    skipWhitespace();
    if (position < text.length) fail(`unexpected ${describe(text[position])} after the end of the document`);
    return { pointers, syntaxError: null };
  } catch (error) {
    if (error instanceof JsonSyntaxError) return { pointers, syntaxError: { offset: error.offset, message: error.message } };
    throw error;
  }
}

/** 1-based line and column of an offset. */
export function lineAndColumn(text: string, offset: number): { readonly line: number; readonly column: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(offset, text.length);
  for (let index = 0; index < end; index += 1) {
    if (text.charCodeAt(index) === 10) {
      line += 1;
      lineStart = index + 1;
    }
  }
  return { line, column: end - lineStart + 1 };
}

export interface EditorAnnotation {
  readonly pointer: string;
  readonly message: string;
  /** 1-based; null when the pointer is not in the text at all. */
  readonly line: number | null;
  readonly column: number | null;
  /** False when the pointer itself is missing (a required property, say) and its nearest parent is shown. */
  readonly exact: boolean;
}

/**
 * The server's errors placed on the text: each pointer's line, or its nearest existing parent's
 * when the pointer names something absent (`/rules/3/pattern` for a missing pattern).
 */
export function annotateErrors(text: string, details: readonly ErrorDetail[], locations: JsonLocations = locateJson(text)): EditorAnnotation[] {
  return details.map((detail) => {
    let pointer = detail.pointer;
    let exact = true;
    for (;;) {
      const offset = locations.pointers.get(pointer);
      if (offset !== undefined) {
        const { line, column } = lineAndColumn(text, offset);
        return { pointer: detail.pointer, message: detail.message, line, column, exact };
      }
      if (pointer === '') return { pointer: detail.pointer, message: detail.message, line: null, column: null, exact: false };
      pointer = pointer.slice(0, Math.max(0, pointer.lastIndexOf('/')));
      exact = false;
    }
  });
}

/** A syntax mistake of the text as an annotation (pointer '' = the document). */
export function syntaxAnnotation(text: string, locations: JsonLocations): EditorAnnotation | null {
  if (!locations.syntaxError) return null;
  const { line, column } = lineAndColumn(text, locations.syntaxError.offset);
  return { pointer: '', message: `not valid JSON: ${locations.syntaxError.message}`, line, column, exact: true };
}
