/**
 * URL decoding with Go's rules (net/url), because Consul reads its parameters with them:
 * `ParseQuery` rejects bad escapes and `;` separators, `+` means space in queries, and a flag is
 * "set" when its key is present at all (`?recurse=false` still recurses).
 */

const HEX = /^[0-9a-fA-F]{2}$/;

/** url.PathUnescape / QueryUnescape. Returns undefined on a malformed escape. */
export function goUnescape(text: string, plusIsSpace: boolean): string | undefined {
  if (!text.includes('%') && !(plusIsSpace && text.includes('+'))) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '%') {
      const hex = text.slice(i + 1, i + 3);
      if (!HEX.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (ch === '+' && plusIsSpace) {
      bytes.push(0x20);
    } else {
      for (const b of Buffer.from(ch ?? '', 'utf8')) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Go's url.Values: key → values, in arrival order. */
export class Query {
  constructor(private readonly values: ReadonlyMap<string, readonly string[]>) {}

  has(key: string): boolean {
    return this.values.has(key);
  }

  /** url.Values.Get: the first value, or '' when absent. */
  get(key: string): string {
    return this.values.get(key)?.[0] ?? '';
  }

  all(key: string): readonly string[] {
    return this.values.get(key) ?? [];
  }

  /** Every key with its values, in arrival order. */
  entries(): Array<[string, readonly string[]]> {
    return [...this.values.entries()];
  }

  /** url.Values.Encode: keys sorted, each value escaped with QueryEscape. */
  encode(): string {
    const keys = [...this.values.keys()].sort();
    const parts: string[] = [];
    for (const key of keys) {
      for (const value of this.values.get(key) ?? []) parts.push(`${goQueryEscape(key)}=${goQueryEscape(value)}`);
    }
    return parts.join('&');
  }
}

/** url.QueryEscape. */
export function goQueryEscape(text: string): string {
  return encodeURIComponent(text)
    .replace(/%20/g, '+')
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** url.ParseQuery. Returns undefined where Go returns an error. */
export function parseQuery(raw: string): Query | undefined {
  const values = new Map<string, string[]>();
  let ok = true;
  for (const part of raw.split('&')) {
    if (part === '') continue;
    if (part.includes(';')) {
      ok = false; // Go 1.17+: "invalid semicolon separator in query"
      continue;
    }
    const eq = part.indexOf('=');
    const rawKey = eq < 0 ? part : part.slice(0, eq);
    const rawValue = eq < 0 ? '' : part.slice(eq + 1);
    const key = goUnescape(rawKey, true);
    const value = goUnescape(rawValue, true);
    if (key === undefined || value === undefined) {
      ok = false;
      continue;
    }
    const list = values.get(key);
    if (list) list.push(value);
    else values.set(key, [value]);
  }
  return ok ? new Query(values) : undefined;
}
