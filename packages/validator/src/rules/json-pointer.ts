/**
 * JSON pointers (RFC 6901) compiled once into key arrays, so resolving one per record is a
 * short loop with no string work. A segment that is exactly `*` is a wildcard over every element
 * of an array or every value of an object (a rule set cannot address a literal "*" key).
 */
export interface CompiledPointer {
  /** The pointer as written, e.g. `/customer/email`. */
  readonly text: string;
  /** Unescaped segments. */
  readonly keys: readonly string[];
  /** The array index each segment stands for, or -1 when it is not a canonical index. */
  readonly indexes: readonly number[];
  /** Each segment as it is written in a path, escaped, with its leading "/" (paths are built per record). */
  readonly segments: readonly string[];
  /** Whether any segment is the `*` wildcard. */
  readonly wildcard: boolean;
}

export class InvalidPointerError extends Error {
  override readonly name = 'InvalidPointerError';
}

const INDEX = /^(?:0|[1-9][0-9]{0,15})$/;

export function compilePointer(text: string, options: { allowWildcard: boolean } = { allowWildcard: true }): CompiledPointer {
  if (text === '') return { text, keys: [], indexes: [], segments: [], wildcard: false };
  if (text[0] !== '/') throw new InvalidPointerError(`invalid JSON pointer "${text}": must be empty or start with "/"`);
  const raw = text.slice(1).split('/');
  const keys: string[] = [];
  const indexes: number[] = [];
  let wildcard = false;
  for (const segment of raw) {
    const badEscape = /~(?![01])/.exec(segment);
    if (badEscape !== null) throw new InvalidPointerError(`invalid JSON pointer "${text}": "~" must be followed by 0 or 1 (write ~0 for "~", ~1 for "/")`);
    if (segment === '*') {
      if (!options.allowWildcard) throw new InvalidPointerError(`JSON pointer "${text}" cannot contain the "*" wildcard here`);
      wildcard = true;
    }
    const key = segment.replaceAll('~1', '/').replaceAll('~0', '~');
    keys.push(key);
    indexes.push(INDEX.test(key) ? Number(key) : -1);
  }
  return { text, keys, indexes, segments: keys.map((key) => `/${escapePointerSegment(key)}`), wildcard };
}

/** Builds a pointer from already-unescaped keys (used by expression paths like `items[0].sku`). */
export function pointerFromKeys(keys: readonly string[]): CompiledPointer {
  const segments = keys.map((key) => `/${escapePointerSegment(key)}`);
  return { text: segments.join(''), keys, indexes: keys.map((key) => (INDEX.test(key) ? Number(key) : -1)), segments, wildcard: false };
}

export function escapePointerSegment(key: string): string {
  return key.includes('~') || key.includes('/') ? key.replaceAll('~', '~0').replaceAll('/', '~1') : key;
}

/** Returns the value at the pointer, or undefined when any step is missing. Ignores wildcards. */
export function resolvePointer(root: unknown, pointer: CompiledPointer): unknown {
  const { keys, indexes } = pointer;
  let current = root;
  for (let i = 0; i < keys.length; i++) {
    if (current === null || typeof current !== 'object') return undefined;
    if (Array.isArray(current)) {
      const index = indexes[i] ?? -1;
      if (index < 0 || index >= current.length) return undefined;
      current = current[index];
    } else {
      const key = keys[i] as string;
      if (!Object.hasOwn(current, key)) return undefined;
      current = (current as Record<string, unknown>)[key];
    }
  }
  return current;
}

export type PointerVisitor = (value: unknown, path: string) => void;

/**
 * Calls `visit` once per concrete location the pointer names: a wildcard over something that is
 * not an array or object names nothing; after the last wildcard, a missing step yields undefined
 * (so a `required` rule on the items' sku reports each item that has none).
 */
export function visitPointer(root: unknown, pointer: CompiledPointer, visit: PointerVisitor): void {
  if (!pointer.wildcard) {
    visit(resolvePointer(root, pointer), pointer.text);
    return;
  }
  visitFrom(root, pointer, 0, '', visit);
}

function visitFrom(current: unknown, pointer: CompiledPointer, from: number, path: string, visit: PointerVisitor): void {
  const { keys, indexes } = pointer;
  let value = current;
  let at = path;
  for (let i = from; i < keys.length; i++) {
    const key = keys[i] as string;
    if (key === '*') {
      if (value === null || typeof value !== 'object') return;
      if (Array.isArray(value)) {
        for (let index = 0; index < value.length; index++) visitFrom(value[index], pointer, i + 1, `${at}/${index}`, visit);
      } else {
        for (const [k, v] of Object.entries(value)) visitFrom(v, pointer, i + 1, `${at}/${escapePointerSegment(k)}`, visit);
      }
      return;
    }
    at += pointer.segments[i] as string;
    if (value === null || typeof value !== 'object') {
      value = undefined;
    } else if (Array.isArray(value)) {
      const index = indexes[i] ?? -1;
      value = index >= 0 && index < value.length ? value[index] : undefined;
    } else {
      value = Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : undefined;
    }
  }
  visit(value, at);
}

/** Splits a pointer for ordering issues in document order (`/rules/10` after `/rules/2`). */
export function comparePointers(a: string, b: string): number {
  const left = a === '' ? [] : a.slice(1).split('/');
  const right = b === '' ? [] : b.slice(1).split('/');
  const n = Math.min(left.length, right.length);
  for (let i = 0; i < n; i++) {
    const x = left[i] as string;
    const y = right[i] as string;
    if (x === y) continue;
    const xi = INDEX.test(x);
    const yi = INDEX.test(y);
    if (xi && yi) return Number(x) - Number(y);
    if (xi !== yi) return xi ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return left.length - right.length;
}
