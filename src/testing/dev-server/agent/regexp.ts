/**
 * Go `regexp` (RE2) patterns on JavaScript's engine, for the user-event filters. The common
 * syntax is shared; the differences that matter for filters are handled here: leading flag groups
 * (`(?i)`), `(?P<name>…)`, and the Perl features RE2 refuses (lookarounds, backreferences), which
 * must fail as they do in Go. Error texts follow Go's `error parsing regexp: <code>: \`<expr>\``.
 */

const cache = new Map<string, RegExp | string>();

function goError(code: string, expr: string): string {
  return `error parsing regexp: ${code}: \`${expr}\``;
}

/** Compiles a Go regexp; returns the Go error text when Go would refuse the pattern. */
export function compileGoRegexp(pattern: string): RegExp | string {
  const cached = cache.get(pattern);
  if (cached !== undefined) return cached;
  const result = compile(pattern);
  if (cache.size > 1000) cache.clear();
  cache.set(pattern, result);
  return result;
}

function compile(pattern: string): RegExp | string {
  let source = pattern;
  let flags = '';
  const lead = /^\(\?([imsU]+)\)/.exec(source);
  if (lead) {
    for (const f of lead[1] ?? '') if (f !== 'U' && !flags.includes(f)) flags += f;
    source = source.slice(lead[0].length);
  }
  const perl = /\(\?(?:<?[=!])/.exec(source);
  if (perl) return goError('invalid or unsupported Perl syntax', perl[0]);
  const backref = /(?<!\\)(?:\\\\)*\\([1-9])/.exec(source);
  if (backref) return goError('invalid escape sequence', `\\${backref[1] ?? ''}`);
  source = source.replace(/\(\?P</g, '(?<');
  try {
    return new RegExp(source, flags);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (/Unterminated group/i.test(message)) return goError('missing closing )', pattern);
    if (/Unmatched '\)'/i.test(message)) return goError('unexpected )', pattern);
    if (/Unterminated character class/i.test(message)) return goError('missing closing ]', pattern.slice(pattern.indexOf('[')));
    if (/Nothing to repeat/i.test(message)) {
      const op = /[*+?]|\{\d*,?\d*\}/.exec(pattern)?.[0] ?? pattern;
      return goError('missing argument to repetition operator', op);
    }
    if (/\\ at end of pattern/i.test(message)) return goError('trailing backslash at end of expression', '');
    return goError('invalid syntax', pattern);
  }
}
