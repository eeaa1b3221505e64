/**
 * What the agent cache reports for `?cached` reads (agent/cache, http.go setCacheMeta): the first
 * read of a request is a `X-Cache: MISS`; later identical reads are served from the cache with
 * `X-Cache: HIT` and `Age` (whole seconds since the cached result was fetched, `%.0f`). The
 * catalog and health types refresh in the background with blocking queries, so a cached entry is
 * refetched (its age restarts) when the result's index moves. `Cache-Control: max-age=N` makes an
 * older entry a MISS; `must-revalidate` or `max-age=0` always do.
 */

interface Entry {
  index: number;
  fetchedAt: number;
}

/** cache.Cache's entry TTL after the last read (`LastGetTTL`, 3 days). */
const LAST_GET_TTL_MS = 72 * 3600 * 1000;

export interface CacheControl {
  readonly maxAgeMs: number | undefined;
  readonly mustRevalidate: boolean;
}

/** parseCacheControl: `max-age=N`, `must-revalidate`; anything unparsable is a 400 upstream. */
export function parseCacheControl(raw: string | undefined): CacheControl | 'invalid' {
  let maxAgeMs: number | undefined;
  let mustRevalidate = false;
  for (const part of (raw ?? '').toLowerCase().split(',')) {
    const d = part.trim();
    if (d === 'must-revalidate') mustRevalidate = true;
    if (d.startsWith('max-age=')) {
      const n = d.slice(8);
      if (!/^[+-]?\d+$/.test(n)) return 'invalid';
      maxAgeMs = Number(n) * 1000;
      if (maxAgeMs === 0) mustRevalidate = true;
    }
  }
  return { maxAgeMs, mustRevalidate };
}

export class AgentCache {
  private readonly entries = new Map<string, Entry & { lastGet: number }>();

  /** Records a read of `key` whose result has `index`; returns the headers to send. */
  read(key: string, index: number, control: CacheControl, now = Date.now()): Record<string, string> {
    this.expire(now);
    const entry = this.entries.get(key);
    const fresh =
      entry !== undefined &&
      entry.index === index &&
      !control.mustRevalidate &&
      (control.maxAgeMs === undefined || now - entry.fetchedAt <= control.maxAgeMs);
    if (!fresh) {
      this.entries.set(key, { index, fetchedAt: now, lastGet: now });
      return { 'X-Cache': 'MISS' };
    }
    entry.lastGet = now;
    return { 'X-Cache': 'HIT', Age: String(Math.round((now - entry.fetchedAt) / 1000)) };
  }

  private expire(now: number): void {
    for (const [key, e] of this.entries) if (now - e.lastGet > LAST_GET_TTL_MS) this.entries.delete(key);
  }
}
