/**
 * The one event emitter of every recipe, the session and the service registration.
 *
 * A listener belongs to the user; a bug in it (a throwing log line) must never cost anybody a lock.
 * So `emit()` calls each listener on its own: one that throws is reported through the logger
 * (`warn`, with the event name and the error's message) and the remaining listeners still run.
 * The report takes no other path — no `error` event, no rethrow, no rejected promise — so a
 * throwing listener (an `error` listener included) changes nothing the recipe does: a renewal
 * that succeeded still counts as a success, a loop keeps running, a state change still happens.
 *
 * Built on eventemitter3 (the public type of every recipe's events stays `EventEmitter<E>`); only
 * `emit` is replaced (on the prototype). It reads eventemitter3's
 * listener record (`{ fn, context, once }`) to keep `once` semantics exact: a `once` listener is
 * removed before it runs, as eventemitter3 does.
 *
 * Memory: thousands of recipes may live in one process (idle watchers, held locks), so an emitter
 * costs two private fields beyond eventemitter3's own, and no closure per instance.
 */
import { EventEmitter } from 'eventemitter3';
import type { Logger } from './logger.js';

interface ListenerRecord {
  fn: (...args: unknown[]) => unknown;
  context: unknown;
  once: boolean;
}

export class SafeEmitter<E extends EventEmitter.ValidEventTypes> extends EventEmitter<E> {
  readonly #logger: Logger;
  readonly #name: string;

  /**
   * @param logger where a throwing listener is reported
   * @param name names the emitter in that report (`lock "jobs/x"`, `session 1f…`)
   */
  constructor(logger: Logger, name: string) {
    super();
    this.#logger = logger;
    this.#name = name;
  }

  static {
    // On the prototype rather than as an `override`: the public type of `emit` (and so of every
    // recipe) stays eventemitter3's, assignable wherever an `EventEmitter` is expected.
    Object.defineProperty(SafeEmitter.prototype, 'emit', {
      configurable: true,
      writable: true,
      /** Calls every listener of `event`; a listener that throws is logged and changes nothing else. */
      value: function emit(this: SafeEmitter<EventEmitter.ValidEventTypes>, event: string | symbol, ...args: unknown[]): boolean {
        const records = listenerRecords(this, event);
        if (records.length === 0) return false;
        for (const record of records) {
          if (record.once) this.removeListener(event, record.fn, undefined, true);
          try {
            record.fn.apply(record.context, args);
          } catch (err) {
            this.#logger.warn(
              { emitter: this.#name, event: String(event), err: err instanceof Error ? err.message : String(err) },
              `a '${String(event)}' listener threw; ignored`,
            );
          }
        }
        return true;
      },
    });
  }
}

/** A snapshot of the listeners of `event` (a listener added or removed meanwhile does not change this emit). */
function listenerRecords(emitter: object, event: unknown): ListenerRecord[] {
  const prefix = (EventEmitter as unknown as { prefixed: string | false }).prefixed;
  const key = typeof event === 'string' && prefix ? prefix + event : (event as string);
  const raw = (emitter as unknown as { _events: Record<string, ListenerRecord | ListenerRecord[] | undefined> })._events[key];
  if (!raw) return [];
  return Array.isArray(raw) ? [...raw] : [raw];
}
