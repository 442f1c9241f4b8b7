import type { CompiledPointer } from '../json-pointer.js';
import type { LinearRegex } from '../regex.js';

export type Literal = null | boolean | number | string;

export type BinaryOperator = '+' | '-' | '*' | '/' | '%' | '==' | '!=' | '<' | '<=' | '>' | '>=' | 'in';

export type ExpressionNode =
  | { readonly kind: 'literal'; readonly value: Literal; readonly column: number }
  | { readonly kind: 'field'; readonly pointer: CompiledPointer; readonly column: number }
  | { readonly kind: 'array'; readonly items: readonly ExpressionNode[]; readonly column: number }
  | { readonly kind: 'not' | 'negate'; readonly operand: ExpressionNode; readonly column: number }
  | { readonly kind: 'binary'; readonly operator: BinaryOperator; readonly left: ExpressionNode; readonly right: ExpressionNode; readonly column: number }
  | { readonly kind: 'and' | 'or'; readonly left: ExpressionNode; readonly right: ExpressionNode; readonly column: number }
  | {
      readonly kind: 'call';
      readonly name: string;
      readonly args: readonly ExpressionNode[];
      readonly column: number;
      /** `matches(x, 'literal')`: the pattern, compiled once at parse time. */
      readonly regex?: LinearRegex;
    };
