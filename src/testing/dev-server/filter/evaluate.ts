/**
 * go-bexpr's validation and evaluation (validate.go, evaluate.go, field_config.go of the v0.1
 * line Consul vendors) over typed data:
 *
 * - Validation walks each selector through the type: an unknown field is
 *   `Selector ["A" "B"] is not valid`; an operator the final field does not support is
 *   `Invalid match operator "Matches" for selector "Port"`; a value that does not convert is
 *   `Failed to coerce value "x" for selector "Port": strconv.ParseInt: …`; a bad regexp is
 *   `Failed to compile regular expression "(": error parsing regexp: …`.
 * - Operators by type: strings `== != in/contains matches`; bools and numbers `== !=`; slices of
 *   primitives `in/contains is-empty`; maps `in/contains is-empty` (on their keys); slices of
 *   structs `is empty` plus their element fields; structs only their fields.
 * - Evaluation: a slice crossed in the middle of a selector is an ANY over its elements; a missing
 *   map key makes `==`, `in` and `is not empty` false and their negations true.
 */
import { compileGoRegexp } from '../agent/regexp.js';
import type { Expression, MatchExpression, MatchOperator } from './grammar.js';
import type { FieldType } from './schema.js';

export class FilterValidationError extends Error {}

type Coerced = string | number | bigint | boolean | RegExp;

interface CompiledMatch {
  readonly expr: MatchExpression;
  readonly value: Coerced | undefined;
}

const STRING_OPS: readonly MatchOperator[] = ['Equal', 'Not Equal', 'In', 'Not In', 'Matches', 'Not Matches'];
const PRIMITIVE_OPS: readonly MatchOperator[] = ['Equal', 'Not Equal'];
const PRIMITIVE_SLICE_OPS: readonly MatchOperator[] = ['In', 'Not In', 'Is Empty', 'Is Not Empty'];
const MAP_OPS: readonly MatchOperator[] = ['Is Empty', 'Is Not Empty', 'In', 'Not In'];
const STRUCT_SLICE_OPS: readonly MatchOperator[] = ['Is Empty', 'Is Not Empty'];

function isPrimitive(t: FieldType): boolean {
  return t.kind === 'string' || t.kind === 'int' || t.kind === 'uint' || t.kind === 'bool' || t.kind === 'float';
}

function supportedOps(t: FieldType): readonly MatchOperator[] {
  if (t.kind === 'string') return STRING_OPS;
  if (isPrimitive(t)) return PRIMITIVE_OPS;
  if (t.kind === 'slice') return isPrimitive(t.elem) ? PRIMITIVE_SLICE_OPS : STRUCT_SLICE_OPS;
  if (t.kind === 'map') return MAP_OPS;
  return [];
}

/** The sub-fields a selector segment may name (a slice of structs exposes its element's). */
function subFields(t: FieldType): Readonly<Record<string, FieldType>> | 'any' | undefined {
  if (t.kind === 'struct') return t.fields;
  if (t.kind === 'map') return 'any';
  if (t.kind === 'slice' && t.elem.kind === 'struct') return t.elem.fields;
  if (t.kind === 'slice' && t.elem.kind === 'map') return 'any';
  return undefined;
}

function subType(t: FieldType, name: string): FieldType | undefined {
  if (t.kind === 'struct') return t.fields[name];
  if (t.kind === 'map') return t.value;
  if (t.kind === 'slice') return subType(t.elem, name);
  return undefined;
}

/** Go %q of a []string: `["A" "B"]`. */
function quotePath(path: readonly string[]): string {
  return `[${path.map((p) => JSON.stringify(p)).join(' ')}]`;
}

/** strconv.ParseBool. */
function parseGoBool(raw: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(raw)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(raw)) return false;
  return undefined;
}

/** strconv.ParseInt(raw, 0, 64) / ParseUint: base prefixes, underscores only with a prefix. */
function parseGoInt(raw: string, unsigned: boolean): bigint | string {
  const fn = unsigned ? 'strconv.ParseUint' : 'strconv.ParseInt';
  const syntax = `${fn}: parsing ${JSON.stringify(raw)}: invalid syntax`;
  let s = raw;
  let neg = false;
  if (!unsigned && (s.startsWith('-') || s.startsWith('+'))) {
    neg = s.startsWith('-');
    s = s.slice(1);
  }
  if (s === '') return syntax;
  let base = 10;
  let digits = s;
  const prefixed = /^0[xXbBoO]/.test(s);
  if (prefixed) {
    base = { x: 16, b: 2, o: 8 }[s[1]!.toLowerCase() as 'x' | 'b' | 'o'];
    digits = s.slice(2);
  } else if (s.length > 1 && s.startsWith('0')) {
    base = 8;
    digits = s.slice(1);
  }
  if (digits.includes('_')) {
    // underscoreOK: only with a base prefix (or a leading 0), never doubled or trailing.
    if (!(prefixed || base === 8) || /__|_$|^_(?!.)/.test(digits)) return syntax;
    digits = digits.replace(/_/g, '');
  }
  const valid = { 2: /^[01]+$/, 8: /^[0-7]+$/, 10: /^[0-9]+$/, 16: /^[0-9a-fA-F]+$/ }[base as 2 | 8 | 10 | 16];
  if (digits === '' || !valid.test(digits)) return syntax;
  let value = 0n;
  for (const d of digits) value = value * BigInt(base) + BigInt(parseInt(d, 16));
  if (neg) value = -value;
  const max = unsigned ? (1n << 64n) - 1n : (1n << 63n) - 1n;
  const min = unsigned ? 0n : -(1n << 63n);
  if (value > max || value < min) return `${fn}: parsing ${JSON.stringify(raw)}: value out of range`;
  return value;
}

/** The field's CoerceFn: the converted value, or Go's error text (a string) when it fails. */
function coerce(t: FieldType, raw: string): Coerced | string {
  switch (t.kind) {
    case 'bool': {
      const b = parseGoBool(raw);
      return b === undefined ? `strconv.ParseBool: parsing ${JSON.stringify(raw)}: invalid syntax` : b;
    }
    case 'int':
    case 'uint':
      return parseGoInt(raw, t.kind === 'uint');
    case 'float': {
      const f = Number(raw);
      return Number.isNaN(f) || raw.trim() === '' ? `strconv.ParseFloat: parsing ${JSON.stringify(raw)}: invalid syntax` : f;
    }
    default:
      return raw;
  }
}

/** validate.go validateRecurse for one match expression. */
function validateMatch(expr: MatchExpression, root: FieldType): CompiledMatch {
  let t: FieldType | undefined = root;
  for (let i = 0; i < expr.selector.length; i++) {
    const name = expr.selector[i]!;
    const fields: Readonly<Record<string, FieldType>> | 'any' | undefined = t === undefined ? undefined : subFields(t);
    const next: FieldType | undefined = fields === undefined ? undefined : fields === 'any' ? subType(t!, name) : fields[name];
    if (next === undefined) throw new FilterValidationError(`Selector ${quotePath(expr.selector.slice(0, i + 1))} is not valid`);
    t = next;
  }
  const last = t!;
  const selector = JSON.stringify(expr.selector.join('.'));
  if (!supportedOps(last).includes(expr.operator)) {
    throw new FilterValidationError(`Invalid match operator ${JSON.stringify(expr.operator)} for selector ${selector}`);
  }
  if (expr.value === undefined) return { expr, value: undefined };
  // The coercion applies to the final field's type (its element type for a primitive slice).
  const target = last.kind === 'slice' ? last.elem : last.kind === 'map' ? ({ kind: 'string' } as const) : last;
  let value: Coerced | string = isPrimitive(target) ? coerce(target, expr.value) : expr.value;
  if (isPrimitive(target) && target.kind !== 'string' && typeof value === 'string') {
    throw new FilterValidationError(`Failed to coerce value ${JSON.stringify(expr.value)} for selector ${selector}: ${value}`);
  }
  if (expr.operator === 'Matches' || expr.operator === 'Not Matches') {
    const re = compileGoRegexp(expr.value);
    if (typeof re === 'string') throw new FilterValidationError(`Failed to compile regular expression ${JSON.stringify(expr.value)}: ${re}`);
    value = re;
  }
  return { expr, value };
}

export type Compiled =
  | { readonly kind: 'match'; readonly m: CompiledMatch }
  | { readonly kind: 'not'; readonly operand: Compiled }
  | { readonly kind: 'and' | 'or'; readonly left: Compiled; readonly right: Compiled };

/** Validates the AST against the type and pre-converts every value. */
export function compile(ast: Expression, root: FieldType): Compiled {
  switch (ast.kind) {
    case 'match':
      return { kind: 'match', m: validateMatch(ast, root) };
    case 'not':
      return { kind: 'not', operand: compile(ast.operand, root) };
    default:
      return { kind: ast.kind, left: compile(ast.left, root), right: compile(ast.right, root) };
  }
}

/** The Go zero value of a type, for fields a reply omits (omitempty) or writes as null. */
function zero(t: FieldType): unknown {
  switch (t.kind) {
    case 'string':
      return '';
    case 'int':
    case 'uint':
    case 'float':
      return 0;
    case 'bool':
      return false;
    case 'struct':
      return {};
    case 'slice':
      return [];
    case 'map':
      return {};
  }
}

function orZero(value: unknown, t: FieldType): unknown {
  return value === undefined || value === null ? zero(t) : value;
}

function equalPrimitive(t: FieldType, want: Coerced | undefined, have: unknown): boolean {
  if (t.kind === 'int' || t.kind === 'uint') {
    try {
      return BigInt(have as number | bigint) === want;
    } catch {
      return false;
    }
  }
  return have === want;
}

function lengthOf(value: unknown): number {
  if (typeof value === 'string' || Array.isArray(value)) return value.length;
  if (typeof value === 'object' && value !== null) return Object.keys(value).length;
  return 0;
}

/** doMatch* at the end of the selector. */
function finalMatch(m: CompiledMatch, t: FieldType, raw: unknown): boolean {
  const value = orZero(raw, t);
  switch (m.expr.operator) {
    case 'Equal':
      return equalPrimitive(t, m.value, value);
    case 'Not Equal':
      return !equalPrimitive(t, m.value, value);
    case 'In':
    case 'Not In': {
      let found: boolean;
      if (t.kind === 'string') found = (value as string).includes(m.value as string);
      else if (t.kind === 'slice') found = (value as unknown[]).some((v) => equalPrimitive(t.elem, m.value, v));
      else found = Object.prototype.hasOwnProperty.call(value, m.value as string);
      return m.expr.operator === 'In' ? found : !found;
    }
    case 'Is Empty':
      return lengthOf(value) === 0;
    case 'Is Not Empty':
      return lengthOf(value) !== 0;
    case 'Matches':
      return (m.value as RegExp).test(value as string);
    case 'Not Matches':
      return !(m.value as RegExp).test(value as string);
  }
}

/** evaluateMatchExpressionRecurse. */
function matchAt(m: CompiledMatch, depth: number, t: FieldType, raw: unknown): boolean {
  if (depth >= m.expr.selector.length) return finalMatch(m, t, raw);
  const value = orZero(raw, t);
  if (t.kind === 'slice') {
    // Selecting into a slice means "any element".
    return (value as unknown[]).some((item) => matchAt(m, depth, t.elem, item));
  }
  const name = m.expr.selector[depth]!;
  if (t.kind === 'map') {
    const obj = value as Record<string, unknown>;
    if (!Object.prototype.hasOwnProperty.call(obj, name)) {
      return !(m.expr.operator === 'Equal' || m.expr.operator === 'Is Not Empty' || m.expr.operator === 'In');
    }
    return matchAt(m, depth + 1, t.value, obj[name]);
  }
  if (t.kind === 'struct') {
    const field = t.fields[name]!;
    return matchAt(m, depth + 1, field, (value as Record<string, unknown>)[name]);
  }
  return false;
}

export function evaluate(c: Compiled, root: FieldType, datum: unknown): boolean {
  switch (c.kind) {
    case 'match':
      return matchAt(c.m, 0, root, datum);
    case 'not':
      return !evaluate(c.operand, root, datum);
    case 'and':
      return evaluate(c.left, root, datum) && evaluate(c.right, root, datum);
    case 'or':
      return evaluate(c.left, root, datum) || evaluate(c.right, root, datum);
  }
}
