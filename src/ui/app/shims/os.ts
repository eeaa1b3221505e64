/** `node:os` in the browser bundle: only what holder-info.ts imports (and never calls there). */
export function hostname(): string {
  return 'browser';
}
