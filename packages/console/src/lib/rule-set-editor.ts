import type { JsonValue } from '../api/types';
import { type EditorAnnotation, locateJson, syntaxAnnotation } from './json-locations';

/** What a new rule set starts from: small, valid, and showing each part of the format. */
export const NEW_RULE_SET_TEMPLATE = `{
  "description": "What these records are and why they are checked.",
  "schema": {
    "type": "object",
    "required": ["id"],
    "properties": {
      "id": { "type": "string" }
    }
  },
  "rules": [
    { "id": "id.format", "severity": "error", "type": "pattern", "field": "/id", "pattern": "[A-Z]{3}-[0-9]+" }
  ]
}
`;

/**
 * The document to send for the editor's text and name field: the name field, when filled, is the
 * rule set's name (it overrides a `name` in the text). A syntax mistake comes back as an
 * annotation instead, and nothing is sent.
 */
export function documentFromEditor(text: string, name: string): { readonly document: JsonValue } | { readonly annotation: EditorAnnotation } {
  const locations = locateJson(text);
  const syntax = syntaxAnnotation(text, locations);
  if (syntax) return { annotation: syntax };
  const parsed = JSON.parse(text) as JsonValue;
  const trimmed = name.trim();
  if (trimmed && typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return { document: { ...parsed, name: trimmed } };
  return { document: parsed };
}

/** Lines (1-based) that carry at least one annotation, for the gutter marks. */
export function annotatedLines(annotations: readonly EditorAnnotation[]): Set<number> {
  return new Set(annotations.flatMap((annotation) => (annotation.line === null ? [] : [annotation.line])));
}

/** Offset of the start of a 1-based line, to move the caret there. */
export function offsetOfLine(text: string, line: number): number {
  let offset = 0;
  for (let current = 1; current < line; current += 1) {
    const next = text.indexOf('\n', offset);
    if (next === -1) return text.length;
    offset = next + 1;
  }
  return offset;
}
