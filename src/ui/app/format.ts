/** Small display helpers for the pages. */
import { LOCK_FLAG_VALUE, SEMAPHORE_FLAG_VALUE } from '../../recipes/hold/keys.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The value as text, or undefined when it is not valid UTF-8. */
export function asText(value: Uint8Array | null): string | undefined {
  if (value === null) return '';
  try {
    return utf8.decode(value);
  } catch {
    return undefined;
  }
}

/** Pretty JSON, or undefined when the text is not JSON. */
export function asJson(text: string | undefined): string | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return undefined;
  }
}

/** A classic hex dump: offset, 16 bytes in hex, then printable ASCII. */
export function hexDump(value: Uint8Array | null): string {
  if (value === null || value.length === 0) return '(empty)';
  const lines: string[] = [];
  for (let at = 0; at < value.length; at += 16) {
    const row = value.subarray(at, at + 16);
    const hex = Array.from(row, (b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${at.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`);
  }
  return lines.join('\n');
}

/** What a flags value means to the recipes. */
export function flagsMeaning(flags: bigint): string | undefined {
  if (flags === LOCK_FLAG_VALUE) return 'lock (api.LockFlagValue)';
  if (flags === SEMAPHORE_FLAG_VALUE) return 'semaphore (api.SemaphoreFlagValue)';
  return undefined;
}

/** `1.2s`, `42s`, `3m12s`, `2h05m`. */
export function duration(ms: number): string {
  if (ms < 10_000) return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Nanoseconds (Consul's LockDelay) as Go prints them, for the common values. */
export function nsDuration(ns: number): string {
  if (ns === 0) return '0s';
  const ms = ns / 1e6;
  return ms < 1000 ? `${ms}ms` : `${ms / 1000}s`;
}

export function bytes(n: number): string {
  return n < 1024 ? `${n} B` : `${(n / 1024).toFixed(n < 10 * 1024 ? 1 : 0)} KiB`;
}
