/** A mistake in the text of an expression; `column` is 1-based. It makes the rule set invalid. */
export class ExpressionSyntaxError extends Error {
  override readonly name = 'ExpressionSyntaxError';
  constructor(
    readonly reason: string,
    readonly column: number,
  ) {
    super(`column ${column}: ${reason}`);
  }
}

/**
 * A record made an expression fail (division by zero, a string where a number was needed, the
 * cost budget spent). It becomes a violation of the rule, never a crash of the worker.
 */
export class ExpressionEvaluationError extends Error {
  override readonly name = 'ExpressionEvaluationError';
}
