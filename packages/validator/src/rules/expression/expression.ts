import type { ExpressionNode } from './ast.js';
import { compileNode, type Evaluator } from './evaluate.js';
import type { EvaluationState, Value } from './functions.js';
import { parseExpression, type RegexCompiler } from './parser.js';

/** Default units of data-dependent work one evaluation may spend (about a millisecond at most). */
export const DEFAULT_EXPRESSION_BUDGET = 100_000;

export interface CompiledExpression {
  readonly source: string;
  readonly ast: ExpressionNode;
  /** Evaluates against a record; throws ExpressionEvaluationError when the record makes it fail. */
  evaluate(record: unknown, state: EvaluationState): Value;
}

/** Parses and compiles; throws ExpressionSyntaxError (with its column) on a mistake in the text. */
export function compileExpression(source: string, options: { budget?: number; compileRegex?: RegexCompiler } = {}): CompiledExpression {
  const ast = parseExpression(source, options.compileRegex);
  const evaluator: Evaluator = compileNode(ast);
  const budget = options.budget ?? DEFAULT_EXPRESSION_BUDGET;
  return {
    source,
    ast,
    evaluate(record, state) {
      state.budget = budget;
      return evaluator(record, state);
    },
  };
}
