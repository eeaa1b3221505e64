/**
 * A small PEG interpreter with the error behaviour of pigeon, the parser generator go-bexpr's
 * grammar is compiled with (github.com/mna/pigeon, the generated `parser` type): ordered choice
 * with backtracking; the farthest failure position and what was expected there (literals as Go
 * `%q`, character classes as written in the grammar, `EOF`); errors raised by `&{ … }` predicates
 * and actions, prefixed with `line:col (offset)` and `rule <display name>`. Together these give
 * the same error texts as bexpr for the same input.
 */

/** A parsing expression, after pigeon's expression kinds. */
export type Expr =
  | { readonly t: 'lit'; readonly val: string }
  | { readonly t: 'class'; readonly val: string; readonly test: (ch: string) => boolean }
  | { readonly t: 'any' }
  | { readonly t: 'seq'; readonly exprs: readonly Expr[] }
  | { readonly t: 'choice'; readonly alts: readonly Expr[] }
  | { readonly t: 'action'; readonly expr: Expr; readonly run: (c: ActionContext) => unknown }
  | { readonly t: 'label'; readonly name: string; readonly expr: Expr }
  | { readonly t: 'ref'; readonly name: string }
  | { readonly t: 'not'; readonly expr: Expr }
  | { readonly t: 'and'; readonly expr: Expr }
  | { readonly t: 'fail'; readonly message: string }
  | { readonly t: 'star'; readonly expr: Expr }
  | { readonly t: 'plus'; readonly expr: Expr }
  | { readonly t: 'opt'; readonly expr: Expr };

export interface Rule {
  readonly name: string;
  /** The quoted name after the rule name in the grammar (`Selector "selector" <- …`). */
  readonly displayName?: string;
  readonly expr: Expr;
}

export interface ActionContext {
  /** The text the action's expression matched. */
  readonly text: string;
  /** Values of the labelled sub-expressions. */
  readonly labels: Readonly<Record<string, unknown>>;
}

/** An action that fails (pigeon adds the error at the action's start and keeps the match). */
export class ActionError extends Error {}

interface Position {
  line: number;
  col: number;
  offset: number;
}

/** Thrown by {@link parsePeg}: the joined pigeon error list. */
export class PegError extends Error {}

// Expression builders, so grammars read close to their .peg source.
export const lit = (val: string): Expr => ({ t: 'lit', val });
export const cls = (val: string, re: RegExp): Expr => ({ t: 'class', val, test: (ch) => re.test(ch) });
export const any: Expr = { t: 'any' };
export const seq = (...exprs: Expr[]): Expr => ({ t: 'seq', exprs });
export const choice = (...alts: Expr[]): Expr => ({ t: 'choice', alts });
export const action = (expr: Expr, run: (c: ActionContext) => unknown): Expr => ({ t: 'action', expr, run });
export const label = (name: string, expr: Expr): Expr => ({ t: 'label', name, expr });
export const ref = (name: string): Expr => ({ t: 'ref', name });
export const not = (expr: Expr): Expr => ({ t: 'not', expr });
export const and = (expr: Expr): Expr => ({ t: 'and', expr });
/** `&{ return false, errors.New(message) }`. */
export const fail = (message: string): Expr => ({ t: 'fail', message });
export const star = (expr: Expr): Expr => ({ t: 'star', expr });
export const plus = (expr: Expr): Expr => ({ t: 'plus', expr });
export const opt = (expr: Expr): Expr => ({ t: 'opt', expr });

/** Go's %q for the short ASCII literals of a grammar. */
function goQuoteLiteral(s: string): string {
  return JSON.stringify(s);
}

class Parser {
  private readonly runes: string[];
  /** Byte offset of each rune (and of the end). */
  private readonly offsets: number[] = [];
  private pos = 0;
  private maxFailPos = -1;
  private maxFailExpected: string[] = [];
  private invert = false;
  private readonly rstack: Rule[] = [];
  private readonly vstack: Record<string, unknown>[] = [];
  readonly errors: string[] = [];

  constructor(
    input: string,
    private readonly rules: ReadonlyMap<string, Rule>,
  ) {
    this.runes = [...input];
    let off = 0;
    for (const r of this.runes) {
      this.offsets.push(off);
      off += Buffer.byteLength(r, 'utf8');
    }
    this.offsets.push(off);
  }

  /** pigeon's position of rune index i: 1-based line; col counts runes since the last newline. */
  position(i: number): Position {
    let line = 1;
    let col = 0;
    for (let k = 0; k <= i && k <= this.runes.length; k++) {
      col += 1;
      if (k < this.runes.length && this.runes[k] === '\n') {
        line += 1;
        col = 0;
      }
    }
    return { line, col, offset: this.offsets[Math.min(i, this.runes.length)]! };
  }

  private failAt(failed: boolean, at: number, want: string): void {
    if (failed !== this.invert) return;
    if (at < this.maxFailPos) return;
    if (at > this.maxFailPos) {
      this.maxFailPos = at;
      this.maxFailExpected = [];
    }
    this.maxFailExpected.push(this.invert ? `!${want}` : want);
  }

  private addErrAt(message: string, at: number): void {
    const p = this.position(at);
    let prefix = `${p.line}:${p.col} (${p.offset})`;
    const rule = this.rstack[this.rstack.length - 1];
    if (rule) prefix += `: rule ${rule.displayName ?? rule.name}`;
    this.errors.push(`${prefix}: ${message}`);
  }

  parseRule(rule: Rule): { ok: boolean; val: unknown } {
    this.rstack.push(rule);
    this.vstack.push({});
    const r = this.parse(rule.expr);
    this.vstack.pop();
    this.rstack.pop();
    return r;
  }

  private parse(e: Expr): { ok: boolean; val: unknown } {
    switch (e.t) {
      case 'lit': {
        const start = this.pos;
        const want = goQuoteLiteral(e.val);
        for (const ch of e.val) {
          if (this.runes[this.pos] !== ch) {
            this.failAt(false, start, want);
            this.pos = start;
            return { ok: false, val: null };
          }
          this.pos += 1;
        }
        this.failAt(true, start, want);
        return { ok: true, val: this.runes.slice(start, this.pos).join('') };
      }
      case 'class': {
        const start = this.pos;
        const ch = this.runes[this.pos];
        if (ch === undefined || !e.test(ch)) {
          this.failAt(false, start, e.val);
          return { ok: false, val: null };
        }
        this.pos += 1;
        this.failAt(true, start, e.val);
        return { ok: true, val: ch };
      }
      case 'any': {
        const start = this.pos;
        if (this.pos >= this.runes.length) {
          this.failAt(false, start, '.');
          return { ok: false, val: null };
        }
        this.pos += 1;
        this.failAt(true, start, '.');
        return { ok: true, val: this.runes[start] };
      }
      case 'seq': {
        const start = this.pos;
        const vals: unknown[] = [];
        for (const sub of e.exprs) {
          const r = this.parse(sub);
          if (!r.ok) {
            this.pos = start;
            return { ok: false, val: null };
          }
          vals.push(r.val);
        }
        return { ok: true, val: vals };
      }
      case 'choice': {
        for (const alt of e.alts) {
          this.vstack.push({});
          const r = this.parse(alt);
          this.vstack.pop();
          if (r.ok) return r;
        }
        return { ok: false, val: null };
      }
      case 'action': {
        const start = this.pos;
        const r = this.parse(e.expr);
        if (!r.ok) return r;
        const labels = this.vstack[this.vstack.length - 1] ?? {};
        try {
          return { ok: true, val: e.run({ text: this.runes.slice(start, this.pos).join(''), labels }) };
        } catch (err) {
          if (!(err instanceof ActionError)) throw err;
          this.addErrAt(err.message, start);
          return { ok: true, val: null };
        }
      }
      case 'label': {
        this.vstack.push({});
        const r = this.parse(e.expr);
        this.vstack.pop();
        if (r.ok) {
          const top = this.vstack[this.vstack.length - 1];
          if (top) top[e.name] = r.val;
        }
        return r;
      }
      case 'ref': {
        const rule = this.rules.get(e.name);
        if (!rule) throw new Error(`undefined rule: ${e.name}`);
        return this.parseRule(rule);
      }
      case 'not': {
        const start = this.pos;
        this.vstack.push({});
        this.invert = !this.invert;
        const r = this.parse(e.expr);
        this.invert = !this.invert;
        this.vstack.pop();
        this.pos = start;
        return { ok: !r.ok, val: null };
      }
      case 'and': {
        const start = this.pos;
        this.vstack.push({});
        const r = this.parse(e.expr);
        this.vstack.pop();
        this.pos = start;
        return { ok: r.ok, val: null };
      }
      case 'fail':
        this.addErrAt(e.message, this.pos);
        return { ok: false, val: null };
      case 'star':
      case 'plus': {
        const vals: unknown[] = [];
        for (;;) {
          this.vstack.push({});
          const r = this.parse(e.expr);
          this.vstack.pop();
          if (!r.ok) break;
          vals.push(r.val);
        }
        if (e.t === 'plus' && vals.length === 0) return { ok: false, val: null };
        return { ok: true, val: vals.length === 0 ? null : vals };
      }
      case 'opt': {
        this.vstack.push({});
        const r = this.parse(e.expr);
        this.vstack.pop();
        return { ok: true, val: r.ok ? r.val : null };
      }
    }
  }

  /** pigeon `parse`: the start rule's value, or the (deduplicated) error list. */
  run(start: string): unknown {
    const rule = this.rules.get(start);
    if (!rule) throw new Error(`undefined rule: ${start}`);
    const r = this.parseRule(rule);
    if (!r.ok && this.errors.length === 0) {
      const set = new Set(this.maxFailExpected);
      const eof = set.delete('!.');
      const expected = [...set].sort(goStringLess);
      if (eof) expected.push('EOF');
      this.addErrAt(`no match found, expected: ${listJoin(expected)}`, Math.max(this.maxFailPos, 0));
    }
    if (this.errors.length > 0) throw new PegError([...new Set(this.errors)].join('\n'));
    return r.val;
  }
}

/** sort.Strings order: byte-wise. */
function goStringLess(a: string, b: string): number {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return Buffer.compare(x, y);
}

function listJoin(list: string[]): string {
  if (list.length === 0) return '';
  if (list.length === 1) return list[0]!;
  return `${list.slice(0, -1).join(', ')} or ${list[list.length - 1]!}`;
}

/** Parses `input` from the `start` rule; throws {@link PegError} with pigeon's error text. */
export function parsePeg(rules: readonly Rule[], start: string, input: string): unknown {
  const table = new Map(rules.map((r) => [r.name, r]));
  return new Parser(input, table).run(start);
}
