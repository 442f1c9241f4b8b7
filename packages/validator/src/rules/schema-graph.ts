import { escapePointerSegment } from './json-pointer.js';
import type { RuleSetIssue } from './rule-set-error.js';

/**
 * The record schema as a graph, for the checks that must run before ajv compiles it: how many
 * subschemas it has, whether it refers back to itself without moving into the record (validation
 * would never end), and how many subschemas one value of a record can be checked against once
 * references are followed (a chain of definitions that each use the one below twice is 1.7 KB of
 * text and 2^26 checks per value).
 *
 * References are resolved as the validator resolves them: against the base URI of the resource
 * they are in (a subschema with `$id` starts a resource; a relative `$id` is resolved against the
 * enclosing one), to `$id`s, JSON pointers and `$anchor`s of this document only (the validator
 * never fetches a schema). A `$dynamicRef` may land on any `$dynamicAnchor` of its name, so it is
 * given an edge to each. A reference that names nothing in the document is refused: a count that
 * does not see where a reference goes would not be a bound.
 */
export interface SchemaGraph {
  /** Every subschema (objects and booleans) by its pointer from the schema's root (`''`). */
  readonly nodes: ReadonlyMap<string, SchemaNode>;
  /** Set when the schema has more subschemas than the limit (the graph is then partial and unused). */
  readonly truncated: boolean;
}

export interface SchemaNode {
  /** Subschemas applied to the same value: applicators and references. */
  readonly inPlace: InPlaceEdge[];
  /** `properties`: one of them applies to a property's value. */
  readonly properties: string[];
  /** `patternProperties`, `additionalProperties`, `unevaluatedProperties`: may all apply to one property's value. */
  readonly anyProperty: string[];
  /** `prefixItems`: one of them, or `items`, applies to an item. */
  readonly prefixItems: string[];
  readonly items: string[];
  /** `contains`, `unevaluatedItems`: apply to an item as well. */
  readonly anyItem: string[];
  /** `propertyNames`: applies to each property's name. */
  readonly names: string[];
}

export interface InPlaceEdge {
  readonly to: string;
  /** The pointer of the reference keyword, for references. */
  readonly via?: string;
}

const IN_PLACE = new Set(['not', 'if', 'then', 'else']);
const IN_PLACE_LISTS = new Set(['allOf', 'anyOf', 'oneOf']);
const IN_PLACE_MAPS = new Set(['dependentSchemas']);
/** Subschemas that only sit in the document (definitions, annotations): indexed as reference targets, never applied from here. */
const DEFINITIONS = new Set(['$defs', 'definitions']);
const NOT_APPLIED = new Set(['contentSchema']);

/** Every pointer position where a subschema may sit, with how it applies. */
type Placement = 'inPlace' | 'properties' | 'anyProperty' | 'prefixItems' | 'items' | 'anyItem' | 'names' | 'none';

function placementOf(keyword: string): { placement: Placement; shape: 'one' | 'list' | 'map' } | undefined {
  if (IN_PLACE.has(keyword)) return { placement: 'inPlace', shape: 'one' };
  if (IN_PLACE_LISTS.has(keyword)) return { placement: 'inPlace', shape: 'list' };
  if (IN_PLACE_MAPS.has(keyword)) return { placement: 'inPlace', shape: 'map' };
  if (DEFINITIONS.has(keyword)) return { placement: 'none', shape: 'map' };
  if (NOT_APPLIED.has(keyword)) return { placement: 'none', shape: 'one' };
  switch (keyword) {
    case 'properties':
      return { placement: 'properties', shape: 'map' };
    case 'patternProperties':
      return { placement: 'anyProperty', shape: 'map' };
    case 'additionalProperties':
    case 'unevaluatedProperties':
      return { placement: 'anyProperty', shape: 'one' };
    case 'prefixItems':
      return { placement: 'prefixItems', shape: 'list' };
    case 'items':
      return { placement: 'items', shape: 'one' };
    case 'contains':
    case 'unevaluatedItems':
      return { placement: 'anyItem', shape: 'one' };
    case 'propertyNames':
      return { placement: 'names', shape: 'one' };
    default:
      return undefined;
  }
}

type RawSchema = Readonly<Record<string, unknown>>;
const isObject = (value: unknown): value is RawSchema => value !== null && typeof value === 'object' && !Array.isArray(value);
const isSchema = (value: unknown): boolean => isObject(value) || typeof value === 'boolean';

/** A base for documents without an absolute `$id`: relative ids and references resolve against it alike. */
const DOCUMENT_BASE = 'https://schema.lagscale.invalid/record-schema.json';

/**
 * Indexes the schema (iteratively: a hostile schema must not exhaust the stack of this check),
 * reporting each reference that names nothing in the document and, past `maxNodes` subschemas,
 * stopping with one issue.
 */
export function buildSchemaGraph(schema: unknown, pointer: string, maxNodes: number, issues: RuleSetIssue[]): SchemaGraph {
  const nodes = new Map<string, SchemaNode>();
  const resources = new Map<string, string>();
  const anchors = new Map<string, string>();
  const dynamicAnchors = new Map<string, string[]>();
  const references: { from: string; via: string; ref: string; base: string; dynamic: boolean }[] = [];
  const pending: { value: unknown; at: string; base: string }[] = [{ value: schema, at: '', base: DOCUMENT_BASE }];
  while (pending.length > 0) {
    const { value, at, base: parentBase } = pending.pop() as { value: unknown; at: string; base: string };
    if (!isSchema(value)) continue;
    if (nodes.size >= maxNodes) {
      issues.push({
        pointer,
        message: `the schema has more than ${maxNodes} subschemas, over the limit: split the rule set, or reuse definitions through $ref instead of repeating them`,
      });
      return { nodes, truncated: true };
    }
    const node: SchemaNode = { inPlace: [], properties: [], anyProperty: [], prefixItems: [], items: [], anyItem: [], names: [] };
    nodes.set(at, node);
    if (!isObject(value)) continue;
    let base = parentBase;
    if (typeof value.$id === 'string') {
      const resolved = resolveUri(value.$id, parentBase);
      if (resolved !== undefined) {
        base = withoutFragment(resolved);
        resources.set(base, at);
      }
    } else if (at === '') resources.set(base, at);
    if (typeof value.$anchor === 'string') anchors.set(`${base}#${value.$anchor}`, at);
    if (typeof value.$dynamicAnchor === 'string') {
      anchors.set(`${base}#${value.$dynamicAnchor}`, at);
      const list = dynamicAnchors.get(value.$dynamicAnchor) ?? [];
      list.push(at);
      dynamicAnchors.set(value.$dynamicAnchor, list);
    }
    if (typeof value.$ref === 'string') references.push({ from: at, via: `${at}/$ref`, ref: value.$ref, base, dynamic: false });
    if (typeof value.$dynamicRef === 'string') references.push({ from: at, via: `${at}/$dynamicRef`, ref: value.$dynamicRef, base, dynamic: true });
    for (const [keyword, inner] of Object.entries(value)) {
      const place = placementOf(keyword);
      if (place === undefined) continue;
      const here = `${at}/${escapePointerSegment(keyword)}`;
      const children: string[] = [];
      const add = (child: unknown, childAt: string) => {
        if (!isSchema(child)) return;
        children.push(childAt);
        pending.push({ value: child, at: childAt, base });
      };
      if (place.shape === 'one') add(inner, here);
      else if (place.shape === 'list' && Array.isArray(inner)) for (const [i, item] of inner.entries()) add(item, `${here}/${i}`);
      else if (place.shape === 'map' && isObject(inner)) for (const [key, item] of Object.entries(inner)) add(item, `${here}/${escapePointerSegment(key)}`);
      if (place.placement === 'inPlace') for (const child of children) node.inPlace.push({ to: child });
      else if (place.placement !== 'none') node[place.placement].push(...children);
    }
  }
  for (const { from, via, ref, base, dynamic } of references) {
    const targets = new Set<string>();
    const to = resolveReference(ref, base, nodes, resources, anchors);
    if (to !== undefined) targets.add(to);
    if (dynamic) {
      const hash = ref.indexOf('#');
      for (const anchor of dynamicAnchors.get(hash < 0 ? '' : ref.slice(hash + 1)) ?? []) targets.add(anchor);
    }
    if (targets.size === 0) {
      issues.push({
        pointer: pointer + via,
        message: `reference "${shorten(ref)}" names no subschema of this document (the validator never fetches schemas): point it at a $defs entry, an $anchor or an $id here`,
      });
      continue;
    }
    for (const target of targets) nodes.get(from)?.inPlace.push({ to: target, via });
  }
  return { nodes, truncated: false };
}

function resolveReference(
  ref: string,
  base: string,
  nodes: ReadonlyMap<string, SchemaNode>,
  resources: ReadonlyMap<string, string>,
  anchors: ReadonlyMap<string, string>,
): string | undefined {
  const target = resolveUri(ref, base);
  if (target === undefined) return undefined;
  const hash = target.indexOf('#');
  const resource = hash < 0 ? target : target.slice(0, hash);
  const fragment = hash < 0 ? '' : target.slice(hash + 1);
  const root = resources.get(resource);
  if (root === undefined) return undefined;
  if (fragment === '' || fragment.startsWith('/')) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(fragment);
    } catch {
      return undefined;
    }
    return nodes.has(root + decoded) ? root + decoded : undefined;
  }
  let anchor: string;
  try {
    anchor = decodeURIComponent(fragment);
  } catch {
    return undefined;
  }
  return anchors.get(`${resource}#${anchor}`);
}

function resolveUri(reference: string, base: string): string | undefined {
  try {
    return new URL(reference, base).href;
  } catch {
    return undefined;
  }
}

function withoutFragment(uri: string): string {
  const hash = uri.indexOf('#');
  return hash < 0 ? uri : uri.slice(0, hash);
}

function shorten(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * Reports each reference that leads back to the subschema it is in without moving into the record
 * (`{"$ref": "#"}` at the root, `allOf: [{"$ref": "#/$defs/a"}]` where `a` refers back): validating
 * any record would recurse until the stack ran out. Recursion that moves into the record
 * (`items: {"$ref": "#"}`) is bounded by the record's depth and is fine. True when there is none.
 */
export function checkInPlaceCycles(graph: SchemaGraph, pointer: string, issues: RuleSetIssue[]): boolean {
  const state = new Map<string, 'visiting' | 'done'>();
  const reported = new Set<string>();
  for (const start of graph.nodes.keys()) {
    if (state.has(start)) continue;
    const stack: { at: string; next: number }[] = [{ at: start, next: 0 }];
    state.set(start, 'visiting');
    while (stack.length > 0) {
      const frame = stack[stack.length - 1] as { at: string; next: number };
      const edge = graph.nodes.get(frame.at)?.inPlace[frame.next++];
      if (edge === undefined) {
        state.set(frame.at, 'done');
        stack.pop();
        continue;
      }
      const seen = state.get(edge.to);
      if (seen === 'visiting') {
        // A cycle through applicators alone has no reference, so it cannot be written in JSON: `via` is always set.
        const via = edge.via ?? edge.to;
        if (!reported.has(via)) {
          reported.add(via);
          issues.push({
            pointer: pointer + via,
            message:
              'this reference leads back to the schema it is in without moving into the record, so validating any record would never end: ' +
              'put a recursive reference under properties, items or another keyword that applies to a part of the record',
          });
        }
        continue;
      }
      if (seen === 'done') continue;
      state.set(edge.to, 'visiting');
      stack.push({ at: edge.to, next: 0 });
    }
  }
  return reported.size === 0;
}

/**
 * The most subschemas one value of a record can be checked against (references followed), for
 * values down to `maxDepth` levels into the record, from the root and from each subschema.
 * Needs a graph without in-place cycles (`checkInPlaceCycles`).
 *
 * V_k(n), the most checks n makes on one value k levels below the value n is applied to, is
 * V_k(n) = child_k(n) + Σ V_k(m) over n's in-place edges (m applied to the same value), with
 * V_0's child term 1 (n itself), and for k > 0 the most any one child value can take: one
 * `properties` entry plus every `patternProperties`, `additionalProperties` and
 * `unevaluatedProperties` for a property; one `prefixItems` entry or `items`, plus `contains` and
 * `unevaluatedItems` for an item; `propertyNames` for a name. It is an upper bound: each subschema
 * picks its own worst property, where a real value has one name.
 */
export function applicationsPerValue(graph: SchemaGraph, maxDepth: number): Map<string, number> {
  const order = topologicalOrder(graph);
  const worst = new Map<string, number>();
  let previous = new Map<string, number>();
  const sum = (pointers: readonly string[], values: ReadonlyMap<string, number>) => pointers.reduce((total, p) => total + (values.get(p) ?? 0), 0);
  const most = (pointers: readonly string[], values: ReadonlyMap<string, number>) => pointers.reduce((best, p) => Math.max(best, values.get(p) ?? 0), 0);
  for (let depth = 0; depth <= maxDepth; depth++) {
    const current = new Map<string, number>();
    let any = false;
    for (const at of order) {
      const node = graph.nodes.get(at) as SchemaNode;
      let value: number;
      if (depth === 0) value = 1;
      else {
        const property = most(node.properties, previous) + sum(node.anyProperty, previous);
        const item = Math.max(most(node.prefixItems, previous), most(node.items, previous)) + sum(node.anyItem, previous);
        value = Math.max(property, item, most(node.names, previous));
      }
      for (const edge of node.inPlace) value += current.get(edge.to) ?? 0;
      // Capped: beyond this the count only says "too many", and floats stay finite.
      value = Math.min(value, 1e15);
      current.set(at, value);
      if (value > 0) any = true;
      if (value > (worst.get(at) ?? 0)) worst.set(at, value);
    }
    // Nothing reaches deeper into a record: later depths are all zero.
    if (!any) break;
    previous = current;
  }
  return worst;
}

/** Nodes ordered so that each comes after every node its in-place edges lead to. */
function topologicalOrder(graph: SchemaGraph): string[] {
  const order: string[] = [];
  const done = new Set<string>();
  for (const start of graph.nodes.keys()) {
    if (done.has(start)) continue;
    done.add(start);
    const stack: { at: string; next: number }[] = [{ at: start, next: 0 }];
    while (stack.length > 0) {
      const frame = stack[stack.length - 1] as { at: string; next: number };
      const edge = graph.nodes.get(frame.at)?.inPlace[frame.next++];
      if (edge === undefined) {
        order.push(frame.at);
        stack.pop();
      } else if (!done.has(edge.to) && graph.nodes.has(edge.to)) {
        done.add(edge.to);
        stack.push({ at: edge.to, next: 0 });
      }
    }
  }
  return order;
}
