/**
 * What our CLI holders (and the demo workers) write as the value of the key they hold: who they
 * are and since when they contend. `inspect` reads it back to show an age.
 *
 * Why in the value: Consul records no time for a session (CreateIndex is a Raft index, not a
 * clock), so an honest age must come from the holder. The recipes create their session when
 * `acquire()`/`campaign()` starts, right after this value is built, so `since` is the session's
 * creation time on the holder's clock (off by that clock's skew; an outage that forces a new
 * session while waiting makes it the first session's time). Holders that write something else
 * (Go's `api.Lock` writes nothing, `consul lock` neither) simply have no known age.
 */
import { hostname } from 'node:os';

export interface HolderInfo {
  /** Host name of the holding process. */
  readonly host: string;
  readonly pid: number;
  /** ISO-8601 time the holder created its session (began contending). */
  readonly since: string;
  /** Free-form label (the demo's worker name). */
  readonly name?: string;
}

export function holderInfo(name?: string): HolderInfo {
  return { host: hostname(), pid: process.pid, since: new Date().toISOString(), ...(name !== undefined ? { name } : {}) };
}

/** The holder info in a key's value, or undefined when the value is something else. */
export function readHolderInfo(value: Buffer | null | undefined): HolderInfo | undefined {
  if (!value || value.length === 0 || value[0] !== 0x7b /* { */) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object') return undefined;
  const o = parsed as Record<string, unknown>;
  if (typeof o.host !== 'string' || typeof o.pid !== 'number' || typeof o.since !== 'string' || Number.isNaN(Date.parse(o.since))) {
    return undefined;
  }
  return { host: o.host, pid: o.pid, since: o.since, ...(typeof o.name === 'string' ? { name: o.name } : {}) };
}
