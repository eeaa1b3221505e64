/** Awaiting events instead of time. */
import type { EventEmitter } from 'eventemitter3';

/**
 * Resolves with the arguments of the next `event` on `emitter`, or rejects after `timeout` ms.
 * The listener is removed in every outcome.
 */
export function nextEvent<A extends unknown[] = unknown[]>(
  emitter: Pick<EventEmitter, 'once' | 'off'>,
  event: string,
  { timeout = 10_000 }: { timeout?: number } = {},
): Promise<A> {
  return new Promise((resolve, reject) => {
    const listener = (...args: unknown[]): void => {
      clearTimeout(timer);
      resolve(args as A);
    };
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`no '${event}' event within ${timeout} ms`));
    }, timeout);
    emitter.once(event, listener);
  });
}
