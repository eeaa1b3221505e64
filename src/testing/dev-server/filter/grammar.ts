/**
 * go-bexpr's grammar (grammar.peg of the v0.1 line that Consul vendors), rule for rule, over the
 * pigeon-compatible interpreter in `peg.ts`, so that both the accepted language and the error
 * texts match. Selectors are `Ident(.Ident | ["key"] | .N)*`; values are selectors (taken as raw
 * text), numbers, or quoted / backtick strings (decoded with Go's strconv.Unquote).
 */
import {
  ActionError,
  type Expr,
  type Rule,
  action,
  and,
  any,
  choice,
  cls,
  fail,
  label,
  lit,
  not,
  opt,
  parsePeg,
  plus,
  ref,
  seq,
  star,
} from './peg.js';

/** bexpr.MatchOperator, with its String() names (used in validation errors). */
export type MatchOperator = 'Equal' | 'Not Equal' | 'In' | 'Not In' | 'Is Empty' | 'Is Not Empty' | 'Matches' | 'Not Matches';

export interface MatchExpression {
  readonly kind: 'match';
  readonly selector: readonly string[];
  readonly operator: MatchOperator;
  /** The raw value; undefined for `is empty` / `is not empty`. */
  readonly value: string | undefined;
}

export interface UnaryExpression {
  readonly kind: 'not';
  readonly operand: Expression;
}

export interface BinaryExpression {
  readonly kind: 'and' | 'or';
  readonly left: Expression;
  readonly right: Expression;
}

export type Expression = MatchExpression | UnaryExpression | BinaryExpression;

const _ = ref('_');
const opt_ = opt(_);
const expr = (c: { labels: Readonly<Record<string, unknown>> }): unknown => c.labels.expr;

const binary =
  (kind: 'and' | 'or') =>
  (c: { labels: Readonly<Record<string, unknown>> }): Expression => ({
    kind,
    left: c.labels.left as Expression,
    right: c.labels.right as Expression,
  });

const operatorRule = (name: string, op: MatchOperator, body: Expr): Rule => ({ name, expr: action(body, () => op) });

const OPS_WITH_VALUE = ['MatchEqual', 'MatchNotEqual', 'MatchContains', 'MatchNotContains', 'MatchMatches', 'MatchNotMatches'];

function selectorPath(c: { labels: Readonly<Record<string, unknown>> }): string[] {
  const rest = (c.labels.rest as string[] | null) ?? [];
  return [c.labels.first as string, ...rest];
}

const RULES: readonly Rule[] = [
  {
    name: 'Input',
    expr: choice(
      action(seq(opt_, lit('('), opt_, label('expr', ref('OrExpression')), opt_, lit(')'), opt_, ref('EOF')), expr),
      action(seq(opt_, label('expr', ref('OrExpression')), opt_, ref('EOF')), expr),
    ),
  },
  {
    name: 'OrExpression',
    expr: choice(
      action(seq(label('left', ref('AndExpression')), _, lit('or'), _, label('right', ref('OrExpression'))), binary('or')),
      action(label('expr', ref('AndExpression')), expr),
    ),
  },
  {
    name: 'AndExpression',
    expr: choice(
      action(seq(label('left', ref('NotExpression')), _, lit('and'), _, label('right', ref('AndExpression'))), binary('and')),
      action(label('expr', ref('NotExpression')), expr),
    ),
  },
  {
    name: 'NotExpression',
    expr: choice(
      action(seq(lit('not'), _, label('expr', ref('NotExpression'))), (c): Expression => {
        const inner = c.labels.expr as Expression;
        // `not not x` is `x` (the grammar drops the double negation).
        if (inner.kind === 'not') return inner.operand;
        return { kind: 'not', operand: inner };
      }),
      action(label('expr', ref('ParenthesizedExpression')), expr),
    ),
  },
  {
    name: 'ParenthesizedExpression',
    displayName: 'grouping',
    expr: choice(
      action(seq(lit('('), opt_, label('expr', ref('OrExpression')), opt_, lit(')')), expr),
      action(label('expr', ref('MatchExpression')), expr),
      seq(lit('('), opt_, ref('OrExpression'), opt_, not(lit(')')), fail('Unmatched parentheses')),
    ),
  },
  {
    name: 'MatchExpression',
    displayName: 'match',
    expr: choice(ref('MatchSelectorOpValue'), ref('MatchSelectorOp'), ref('MatchValueOpSelector')),
  },
  {
    name: 'MatchSelectorOpValue',
    displayName: 'match',
    expr: action(
      seq(label('selector', ref('Selector')), label('operator', choice(...OPS_WITH_VALUE.map(ref))), label('value', ref('Value'))),
      (c): Expression => ({
        kind: 'match',
        selector: c.labels.selector as string[],
        operator: c.labels.operator as MatchOperator,
        value: c.labels.value as string,
      }),
    ),
  },
  {
    name: 'MatchSelectorOp',
    displayName: 'match',
    expr: action(
      seq(label('selector', ref('Selector')), label('operator', choice(ref('MatchIsEmpty'), ref('MatchIsNotEmpty')))),
      (c): Expression => ({
        kind: 'match',
        selector: c.labels.selector as string[],
        operator: c.labels.operator as MatchOperator,
        value: undefined,
      }),
    ),
  },
  {
    name: 'MatchValueOpSelector',
    displayName: 'match',
    expr: choice(
      action(
        seq(label('value', ref('Value')), label('operator', choice(ref('MatchIn'), ref('MatchNotIn'))), label('selector', ref('Selector'))),
        (c): Expression => ({
          kind: 'match',
          selector: c.labels.selector as string[],
          operator: c.labels.operator as MatchOperator,
          value: c.labels.value as string,
        }),
      ),
      seq(ref('Value'), label('operator', choice(ref('MatchIn'), ref('MatchNotIn'))), not(ref('Selector')), fail('Invalid selector')),
    ),
  },
  operatorRule('MatchEqual', 'Equal', seq(opt_, lit('=='), opt_)),
  operatorRule('MatchNotEqual', 'Not Equal', seq(opt_, lit('!='), opt_)),
  operatorRule('MatchIsEmpty', 'Is Empty', seq(_, lit('is'), _, lit('empty'))),
  operatorRule('MatchIsNotEmpty', 'Is Not Empty', seq(_, lit('is'), _, lit('not'), _, lit('empty'))),
  operatorRule('MatchIn', 'In', seq(_, lit('in'), _)),
  operatorRule('MatchNotIn', 'Not In', seq(_, lit('not'), _, lit('in'), _)),
  // `contains` is `in` with the operands swapped.
  operatorRule('MatchContains', 'In', seq(_, lit('contains'), _)),
  operatorRule('MatchNotContains', 'Not In', seq(_, lit('not'), _, lit('contains'), _)),
  operatorRule('MatchMatches', 'Matches', seq(_, lit('matches'), _)),
  operatorRule('MatchNotMatches', 'Not Matches', seq(_, lit('not'), _, lit('matches'), _)),
  {
    name: 'Selector',
    displayName: 'selector',
    expr: action(seq(label('first', ref('Identifier')), label('rest', star(ref('SelectorOrIndex')))), selectorPath),
  },
  {
    name: 'Identifier',
    expr: action(seq(cls('[a-zA-Z]', /^[a-zA-Z]$/), star(cls('[a-zA-Z0-9_]', /^[a-zA-Z0-9_]$/))), (c) => c.text),
  },
  {
    name: 'SelectorOrIndex',
    expr: choice(
      action(seq(lit('.'), label('ident', ref('Identifier'))), (c) => c.labels.ident),
      action(label('expr', ref('IndexExpression')), expr),
      action(seq(lit('.'), label('idx', plus(cls('[0-9]', /^[0-9]$/)))), (c) => c.text.slice(1)),
    ),
  },
  {
    name: 'IndexExpression',
    displayName: 'index',
    expr: choice(
      action(seq(lit('['), opt_, label('lit', ref('StringLiteral')), opt_, lit(']')), (c) => c.labels.lit),
      seq(lit('['), opt_, not(ref('StringLiteral')), fail('Invalid index')),
      seq(lit('['), opt_, ref('StringLiteral'), opt_, not(lit(']')), fail('Unclosed index expression')),
    ),
  },
  {
    name: 'Value',
    displayName: 'value',
    expr: choice(
      action(label('selector', ref('Selector')), (c) => (c.labels.selector as string[]).join('.')),
      action(label('n', ref('NumberLiteral')), (c) => c.labels.n),
      action(label('s', ref('StringLiteral')), (c) => c.labels.s),
    ),
  },
  {
    name: 'NumberLiteral',
    displayName: 'number',
    expr: choice(
      action(seq(opt(lit('-')), ref('IntegerOrFloat'), and(ref('AfterNumbers'))), (c) => c.text),
      seq(opt(lit('-')), ref('IntegerOrFloat'), not(ref('AfterNumbers')), fail('Invalid number literal')),
    ),
  },
  { name: 'AfterNumbers', expr: and(choice(_, ref('EOF'), lit(')'))) },
  {
    name: 'IntegerOrFloat',
    expr: seq(
      choice(lit('0'), seq(cls('[1-9]', /^[1-9]$/), star(cls('[0-9]', /^[0-9]$/)))),
      opt(seq(lit('.'), plus(cls('[0-9]', /^[0-9]$/)))),
    ),
  },
  {
    name: 'StringLiteral',
    displayName: 'string',
    expr: choice(
      action(
        choice(seq(lit('`'), star(ref('RawStringChar')), lit('`')), seq(lit('"'), star(ref('DoubleStringChar')), lit('"'))),
        (c) => {
          const out = goUnquote(c.text);
          if (out === undefined) throw new ActionError('invalid syntax');
          return out;
        },
      ),
      seq(choice(seq(lit('`'), star(ref('RawStringChar'))), seq(lit('"'), star(ref('DoubleStringChar')))), ref('EOF'), fail('Unterminated string literal')),
    ),
  },
  { name: 'RawStringChar', expr: seq(not(lit('`')), any) },
  { name: 'DoubleStringChar', expr: seq(not(lit('"')), any) },
  { name: '_', displayName: 'whitespace', expr: plus(cls('[ \\t\\r\\n]', /^[ \t\r\n]$/)) },
  { name: 'EOF', expr: not(any) },
];

/**
 * Go's strconv.Unquote for a `"…"` or `` `…` `` literal; undefined where Go answers
 * ErrSyntax ("invalid syntax").
 */
export function goUnquote(text: string): string | undefined {
  if (text.length < 2) return undefined;
  const quote = text[0];
  if (quote !== text[text.length - 1]) return undefined;
  const body = text.slice(1, -1);
  if (quote === '`') {
    if (body.includes('`')) return undefined;
    return body.replace(/\r/g, '');
  }
  if (quote !== '"' || body.includes('\n')) return undefined;
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch === '"') return undefined;
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    const next = body[i + 1];
    i += 1;
    const simple: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"' };
    if (next !== undefined && simple[next] !== undefined) {
      out += simple[next];
      continue;
    }
    const hexLen = next === 'x' ? 2 : next === 'u' ? 4 : next === 'U' ? 8 : 0;
    if (hexLen > 0) {
      const hex = body.slice(i + 1, i + 1 + hexLen);
      if (hex.length !== hexLen || !/^[0-9a-fA-F]+$/.test(hex)) return undefined;
      const code = parseInt(hex, 16);
      if (next === 'x') out += Buffer.from([code]).toString('latin1');
      else {
        if (code > 0x10ffff || (code >= 0xd800 && code < 0xe000)) return undefined;
        out += String.fromCodePoint(code);
      }
      i += hexLen;
      continue;
    }
    if (next !== undefined && /[0-7]/.test(next)) {
      const oct = body.slice(i, i + 3);
      if (!/^[0-7]{3}$/.test(oct) || parseInt(oct, 8) > 255) return undefined;
      out += String.fromCharCode(parseInt(oct, 8));
      i += 2;
      continue;
    }
    return undefined;
  }
  return out;
}

/** Parses a bexpr expression; throws PegError with go-bexpr's (pigeon's) error text. */
export function parseExpression(input: string): Expression {
  return parsePeg(RULES, 'Input', input) as Expression;
}
