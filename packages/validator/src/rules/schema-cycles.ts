import { escapePointerSegment } from './json-pointer.js';
import type { RuleSetIssue } from './rule-set-error.js';

/**
 * A record schema that refers back to itself without moving into the record (`{"$ref": "#"}`,
 * or `allOf: [{"$ref": "#/$defs/a"}]` where `a` refers back) never finishes: validating any record
 * recurses until the stack runs out. Recursion that moves into the record (`items: {"$ref": "#"}`)
 * is bounded by the record's depth and is fine.
 *
 * This finds the first kind: a cycle in the graph whose edges are the keywords that apply a
 * subschema to the same value (`$ref`, `$dynamicRef`, `allOf`, `anyOf`, `oneOf`, `not`, `if`,
 * `then`, `else`, `dependentSchemas`). References are resolved inside the document only (the
 * validator never fetches a remote schema): `#`, `#/json/pointer`, `#anchor`, and `$id`s.
 */
export function findInPlaceCycles(schema: unknown, pointer: string, issues: RuleSetIssue[]): void {
  const nodes = indexSchema(schema);
  const state = new Map<string, 'visiting' | 'done'>();
  const reported = new Set<string>();
  // Iterative depth-first search: a hostile schema must not exhaust the stack of this check either.
  for (const start of nodes.keys()) {
    if (state.has(start)) continue;
    const stack: { at: string; next: number }[] = [{ at: start, next: 0 }];
    state.set(start, 'visiting');
    while (stack.length > 0) {
      const frame = stack[stack.length - 1] as { at: string; next: number };
      const edges = nodes.get(frame.at)?.edges ?? [];
      const edge = edges[frame.next++];
      if (edge === undefined) {
        state.set(frame.at, 'done');
        stack.pop();
        continue;
      }
      const seen = state.get(edge.to);
      if (seen === 'visiting') {
        if (edge.via !== undefined && !reported.has(edge.via)) {
          reported.add(edge.via);
          issues.push({
            pointer: pointer + edge.via,
            message:
              'this reference leads back to the schema it is in without moving into the record, so validating any record would never end: ' +
              'put a recursive reference under properties, items or another keyword that applies to a part of the record',
          });
        }
        continue;
      }
      if (seen === 'done' || !nodes.has(edge.to)) continue;
      state.set(edge.to, 'visiting');
      stack.push({ at: edge.to, next: 0 });
    }
  }
}

/** An edge to the subschema at `to` (a pointer from the root); `via` is the pointer of the reference keyword, for references. */
interface Edge {
  readonly to: string;
  readonly via?: string;
}

interface SchemaNode {
  readonly edges: Edge[];
}

const IN_PLACE = new Set(['not', 'if', 'then', 'else']);
const IN_PLACE_LISTS = new Set(['allOf', 'anyOf', 'oneOf']);
const IN_PLACE_MAPS = new Set(['dependentSchemas']);
/** Keywords holding subschemas that apply to parts of the value, or are only definitions: walked for their own nodes, no edge. */
const ELSEWHERE = new Set(['items', 'contains', 'additionalProperties', 'propertyNames', 'unevaluatedItems', 'unevaluatedProperties', 'contentSchema']);
const ELSEWHERE_LISTS = new Set(['prefixItems']);
const ELSEWHERE_MAPS = new Set(['properties', 'patternProperties', '$defs', 'definitions']);
const MAX_NODES = 100_000;

type RawSchema = Readonly<Record<string, unknown>>;
const isSchemaObject = (value: unknown): value is RawSchema => value !== null && typeof value === 'object' && !Array.isArray(value);

/** Every object subschema by its pointer from the root, with its in-place edges; references resolved. */
function indexSchema(root: unknown): Map<string, SchemaNode> {
  const nodes = new Map<string, SchemaNode>();
  const anchors = new Map<string, string>();
  const ids = new Map<string, string>();
  const references: { from: string; via: string; ref: string }[] = [];
  const pending: { value: unknown; at: string }[] = [{ value: root, at: '' }];
  while (pending.length > 0 && nodes.size < MAX_NODES) {
    const { value, at } = pending.pop() as { value: unknown; at: string };
    if (!isSchemaObject(value)) continue;
    const node: SchemaNode = { edges: [] };
    nodes.set(at, node);
    if (typeof value.$anchor === 'string') anchors.set(value.$anchor, at);
    if (typeof value.$dynamicAnchor === 'string' && !anchors.has(value.$dynamicAnchor)) anchors.set(value.$dynamicAnchor, at);
    if (typeof value.$id === 'string') ids.set(value.$id.replace(/#$/, ''), at);
    for (const keyword of ['$ref', '$dynamicRef']) {
      const ref = value[keyword];
      if (typeof ref === 'string') references.push({ from: at, via: `${at}/${keyword}`, ref });
    }
    for (const [keyword, inner] of Object.entries(value)) {
      const here = `${at}/${escapePointerSegment(keyword)}`;
      const inPlace = IN_PLACE.has(keyword) || IN_PLACE_LISTS.has(keyword) || IN_PLACE_MAPS.has(keyword);
      const children: { value: unknown; at: string }[] = [];
      if (IN_PLACE.has(keyword) || ELSEWHERE.has(keyword)) children.push({ value: inner, at: here });
      else if ((IN_PLACE_LISTS.has(keyword) || ELSEWHERE_LISTS.has(keyword)) && Array.isArray(inner)) {
        for (const [i, item] of inner.entries()) children.push({ value: item, at: `${here}/${i}` });
      } else if ((IN_PLACE_MAPS.has(keyword) || ELSEWHERE_MAPS.has(keyword)) && isSchemaObject(inner)) {
        for (const [key, item] of Object.entries(inner)) children.push({ value: item, at: `${here}/${escapePointerSegment(key)}` });
      }
      for (const child of children) {
        if (inPlace && isSchemaObject(child.value)) node.edges.push({ to: child.at });
        pending.push(child);
      }
    }
  }
  for (const { from, via, ref } of references) {
    const to = resolveReference(ref, nodes, anchors, ids);
    if (to !== undefined) nodes.get(from)?.edges.push({ to, via });
  }
  return nodes;
}

/** The pointer of the subschema a reference names, or undefined when it names none in this document. */
function resolveReference(
  ref: string,
  nodes: ReadonlyMap<string, SchemaNode>,
  anchors: ReadonlyMap<string, string>,
  ids: ReadonlyMap<string, string>,
): string | undefined {
  const hash = ref.indexOf('#');
  const base = hash < 0 ? ref : ref.slice(0, hash);
  const fragment = hash < 0 ? '' : ref.slice(hash + 1);
  let root = '';
  if (base !== '') {
    const byId = ids.get(base) ?? [...ids].find(([id]) => id.endsWith(`/${base}`))?.[1];
    if (byId === undefined) return undefined;
    root = byId;
  }
  if (fragment === '' || fragment.startsWith('/')) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(fragment);
    } catch {
      return undefined;
    }
    const target = root + decoded;
    return nodes.has(target) ? target : undefined;
  }
  return anchors.get(fragment);
}
