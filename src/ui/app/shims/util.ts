/** `node:util` in the browser bundle: format.ts needs only TextDecoder, which browsers have. */
export const TextDecoder = globalThis.TextDecoder;
