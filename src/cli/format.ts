/** Small formatting helpers shared by the commands' human output. */
import { TextDecoder } from 'node:util';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A stored value as text when it is UTF-8, else as base64. */
export function showValue(raw: Buffer | null | undefined): { text: string } | { base64: string } {
  const bytes = raw ?? Buffer.alloc(0);
  try {
    return { text: utf8.decode(bytes) };
  } catch {
    return { base64: bytes.toString('base64') };
  }
}

/** Local wall-clock time with milliseconds (`14:02:03.120`), for human lines. */
export function clock(date = new Date()): string {
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}
