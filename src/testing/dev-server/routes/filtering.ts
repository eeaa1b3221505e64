/**
 * `?filter=` for the endpoints Consul filters (http.go parseFilter → bexpr.CreateFilter in each
 * endpoint). An empty or absent expression filters nothing; one that does not parse or does not
 * fit the filtered type answers 500 with bexpr's message
 * (`Failed to create boolean expression evaluator: …`): every endpoint returns bexpr's error
 * as a plain error (agent_endpoint.go AgentServices, consul/catalog_endpoint.go ListNodes, …), and
 * agent/http.go maps a plain error to 500 (hashicorp/consul#7338 shows the same answer).
 */
import type { RequestContext } from '../http/context.js';
import { HttpError } from '../http/errors.js';
import { type FieldType, type Filter, FilterError, createFilter } from '../filter/index.js';

/** The request's filter over `type`, or undefined without `?filter`. */
export function requestFilter(ctx: RequestContext, type: FieldType): Filter | undefined {
  const expression = ctx.query.get('filter');
  if (expression === '') return undefined;
  try {
    return createFilter(expression, type);
  } catch (err) {
    if (err instanceof FilterError) throw new HttpError(500, err.message);
    throw err;
  }
}

/** Keeps the items the filter matches (all of them without a filter). */
export function applyFilter<T>(filter: Filter | undefined, items: readonly T[], datum: (item: T) => unknown = (i) => i): T[] {
  if (!filter) return [...items];
  return items.filter((item) => filter.matches(datum(item)));
}
