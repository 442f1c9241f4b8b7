import { compileLinearRegex, estimateRegexSize, type LinearRegex, MAX_PATTERN_INSTRUCTIONS, RegexCompileError } from './regex.js';
import type { RuleSetIssue } from './rule-set-error.js';
import { applicationsPerValue, buildSchemaGraph, checkInPlaceCycles } from './schema-graph.js';

/**
 * What a rule set may cost, checked when it is saved or checked (and again wherever it is
 * compiled, so a document saved before a limit existed is refused there with the same reason).
 * Each bound is far above what a real rule set needs (the example rule sets use under 2% of each)
 * and low enough that compiling stays under a second and one value of a record is checked against
 * a bounded number of subschemas; what validation still costs with a large record is bounded by
 * the per-record time budget (validation/budgets in the worker and the API).
 */
export interface RuleSetBudgets {
  /** The document as JSON text. */
  readonly maxDocumentBytes: number;
  /** Subschemas (objects and booleans) in the record schema. */
  readonly maxSchemaNodes: number;
  /** Subschemas one value of a record can be checked against, references followed. */
  readonly maxApplicationsPerValue: number;
  /** Depth of the records the applications are counted for (the decoder's limit). */
  readonly recordDepth: number;
  /** Patterns in all: pattern rules, `matches()`, `pattern` and `patternProperties`. */
  readonly maxPatterns: number;
  /** RE2 instructions of one pattern. */
  readonly maxPatternInstructions: number;
  /** RE2 instructions of all patterns together. */
  readonly maxTotalPatternInstructions: number;
}

export const RULE_SET_BUDGETS: RuleSetBudgets = Object.freeze({
  maxDocumentBytes: 1024 * 1024,
  maxSchemaNodes: 5_000,
  maxApplicationsPerValue: 2_000,
  recordDepth: 64,
  maxPatterns: 1_000,
  maxPatternInstructions: MAX_PATTERN_INSTRUCTIONS,
  maxTotalPatternInstructions: 100_000,
});

/** The document's size as JSON; one issue when it is over the budget (nothing else is then checked). */
export function checkDocumentSize(document: unknown, budgets: RuleSetBudgets): RuleSetIssue | null {
  const bytes = Buffer.byteLength(JSON.stringify(document) ?? '', 'utf8');
  if (bytes <= budgets.maxDocumentBytes) return null;
  return {
    pointer: '',
    message: `the rule set is ${bytes} bytes as JSON, over the limit of ${budgets.maxDocumentBytes}: split it, or move long value lists out of it`,
  };
}

/**
 * The record schema's structure: its size, references that name nothing here, references that
 * loop without moving into the record, and the subschemas one value can be checked against.
 * True when the schema may be compiled.
 */
export function checkSchemaCost(schema: unknown, pointer: string, budgets: RuleSetBudgets, issues: RuleSetIssue[]): boolean {
  const before = issues.length;
  const graph = buildSchemaGraph(schema, pointer, budgets.maxSchemaNodes, issues);
  if (graph.truncated || issues.length > before) return false;
  if (!checkInPlaceCycles(graph, pointer, issues)) return false;
  const worst = applicationsPerValue(graph, budgets.recordDepth);
  if ((worst.get('') ?? 0) <= budgets.maxApplicationsPerValue) return true;
  // Point at the smallest subschema that is over the limit on its own: the place to change.
  let at = '';
  let count = worst.get('') as number;
  for (const [node, applications] of worst) {
    if (applications > budgets.maxApplicationsPerValue && applications < count) {
      at = node;
      count = applications;
    }
  }
  const shown = count >= 1e15 ? 'more than 10^15' : String(count);
  issues.push({
    pointer: pointer + at,
    message:
      `one value of a record can be checked against ${shown} subschemas here once references are followed, over the limit of ` +
      `${budgets.maxApplicationsPerValue} (allOf, anyOf, oneOf, if/then/else and references all count): a definition used twice by ` +
      'a definition used twice... doubles at each step; refer to a shared part once, and split very wide anyOf/oneOf into rule sets of their own',
  });
  return false;
}

/**
 * The patterns of one rule set's compile: each compiled once (the schema check and ajv ask for
 * the same pattern), counted, and refused past the budget before they are compiled.
 */
export class PatternBudget {
  readonly #cache = new Map<string, LinearRegex>();
  #patterns = 0;
  #instructions = 0;

  constructor(readonly budgets: RuleSetBudgets = RULE_SET_BUDGETS) {}

  /** Throws RegexCompileError for a pattern RE2 cannot compile, one too large, or one past the rule set's budget. */
  compile(pattern: string, options: { ignoreCase?: boolean } = {}): LinearRegex {
    const key = `${options.ignoreCase === true ? 'i' : '-'}${pattern}`;
    this.#patterns++;
    if (this.#patterns > this.budgets.maxPatterns) {
      throw new RegexCompileError(`the rule set has more than ${this.budgets.maxPatterns} patterns, over the limit`);
    }
    const cached = this.#cache.get(key);
    if (cached !== undefined) return cached;
    const remaining = this.budgets.maxTotalPatternInstructions - this.#instructions;
    if (estimateRegexSize(pattern) > remaining * 2) throw new RegexCompileError(this.#overTotal());
    const regex = compileLinearRegex(pattern, { ignoreCase: options.ignoreCase === true, maxInstructions: this.budgets.maxPatternInstructions });
    this.#instructions += regex.instructions;
    if (this.#instructions > this.budgets.maxTotalPatternInstructions) throw new RegexCompileError(this.#overTotal());
    this.#cache.set(key, regex);
    return regex;
  }

  #overTotal(): string {
    return `the rule set's patterns compile to more than ${this.budgets.maxTotalPatternInstructions} RE2 instructions in all, over the limit`;
  }
}
