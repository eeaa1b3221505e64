/**
 * `?filter=` expressions (go-bexpr) for the dev server: parse, validate against the Go type the
 * endpoint filters, evaluate over reply objects. `createFilter` fails as bexpr.CreateFilter does,
 * with `Failed to create boolean expression evaluator: <parse or validation error>`.
 */
import { type Compiled, FilterValidationError, compile, evaluate } from './evaluate.js';
import { parseExpression } from './grammar.js';
import { PegError } from './peg.js';
import type { FieldType } from './schema.js';

export * from './schema.js';
export { parseExpression } from './grammar.js';
export type { Expression, MatchOperator } from './grammar.js';

/** An expression that does not parse or does not fit the filtered type. */
export class FilterError extends Error {
  readonly code = 'ERR_FILTER_EXPRESSION';
  constructor(message: string) {
    super(message);
    this.name = 'FilterError';
  }
}

export interface Filter {
  /** True when the datum (a reply object with Go field names) matches. */
  matches(datum: unknown): boolean;
  /** The items of a list that match, in order. */
  apply<T>(items: readonly T[]): T[];
}

/** bexpr.CreateFilter: throws {@link FilterError} with bexpr's message. */
export function createFilter(expression: string, type: FieldType): Filter {
  let compiled: Compiled;
  try {
    compiled = compile(parseExpression(expression), type);
  } catch (err) {
    if (err instanceof PegError || err instanceof FilterValidationError) {
      throw new FilterError(`Failed to create boolean expression evaluator: ${err.message}`);
    }
    throw err;
  }
  const matches = (datum: unknown): boolean => evaluate(compiled, type, datum);
  return { matches, apply: (items) => items.filter(matches) };
}
