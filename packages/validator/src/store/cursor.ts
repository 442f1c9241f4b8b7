import { StoreError } from './store.js';

/**
 * Opaque pagination cursors: base64url of a small JSON object tagged with what it pages through,
 * so a cursor of one list is refused by another instead of giving a wrong page.
 */
export function encodeCursor(kind: string, position: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify({ k: kind, ...position }), 'utf8').toString('base64url');
}

/** The position stored in a cursor of `kind`; throws `INVALID_CURSOR` for anything else. */
export function decodeCursor(kind: string, cursor: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    value = undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || (value as { k?: unknown }).k !== kind) {
    throw new StoreError('INVALID_CURSOR', `cursor "${abbreviate(cursor)}" is not a ${kind} cursor: pass back the nextCursor of the previous page unchanged`);
  }
  return value as Record<string, unknown>;
}

/** A field of a decoded cursor that must be a safe integer. */
export function cursorInteger(kind: string, position: Record<string, unknown>, field: string, cursor: string): number {
  const value = position[field];
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new StoreError('INVALID_CURSOR', `cursor "${abbreviate(cursor)}" is not a ${kind} cursor: it has no integer "${field}"`);
  }
  return value;
}

function abbreviate(text: string): string {
  return text.length <= 40 ? text : `${text.slice(0, 37)}...`;
}
