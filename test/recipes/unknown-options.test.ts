/** Every public constructor and method refuses option names it does not know, naming the nearest valid one. */
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, Coordinator } from '../../src/index.js';
import { nearestName } from '../../src/internal/options.js';

// Nothing listens on port 1: every call below must fail before sending anything.
const coord = new Coordinator({ address: 'http://127.0.0.1:1' });
afterAll(() => coord.close());

function refusal(call: () => unknown): ConfigError {
  try {
    const result = call();
    // A promise-returning call must have thrown synchronously instead.
    if (result instanceof Promise) result.catch(() => undefined);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a synchronous ConfigError');
}

describe('an unknown option', () => {
  it.each([
    ['new Coordinator()', () => new Coordinator({ adress: 'http://127.0.0.1:1' } as never), 'adress', 'address'],
    ['new Coordinator() retry', () => new Coordinator({ retry: { retires: 1 } } as never), 'retires', 'retries'],
    ['lock()', () => coord.lock('k', { bogusOption: 1 } as never), 'bogusOption', undefined],
    ['lock()', () => coord.lock('k', { lockdelay: '1s' } as never), 'lockdelay', 'lockDelay'],
    ['semaphore()', () => coord.semaphore('p', { limit: 1, limt: 2 } as never), 'limt', 'limit'],
    ['election()', () => coord.election('e', { retryTme: '1s' } as never), 'retryTme', 'retryTime'],
    ['configWatcher()', () => coord.configWatcher('c/', { decoder: 'json' } as never), 'decoder', 'decode'],
    ['registerService()', () => coord.registerService({ name: 'web', prot: 80 } as never), 'prot', 'port'],
    ['registerService() check (http)', () => coord.registerService({ name: 'web', check: { http: 'http://x', interval: '1s', methd: 'GET' } } as never), 'methd', 'method'],
    ['serviceWatcher()', () => coord.serviceWatcher('web', { tags: ['a'] } as never), 'tags', 'tag'],
    ['resolve()', () => coord.resolve('web', { timout: '1s' } as never), 'timout', 'timeout'],
    ['withLock()', () => coord.withLock('k', () => 1, { timout: '1s' } as never), 'timout', 'timeout'],
    ['withSemaphore()', () => coord.withSemaphore('p', { limit: 1, sesion: undefined } as never, () => 1), 'sesion', 'session'],
    ['events.fire()', () => coord.events.fire('deploy', 'x', { nodes: 'a' } as never), 'nodes', 'node'],
    ['events.watch()', () => coord.events.watch('deploy', { histroy: true } as never), 'histroy', 'history'],
    ['session()', () => coord.session({ tll: '10s' } as never), 'tll', 'ttl'],
    ['acquire()', () => coord.lock('k').acquire({ timeOut: 5 } as never), 'timeOut', 'timeout'],
    ['campaign()', () => coord.election('e').campaign({ signl: undefined } as never), 'signl', 'signal'],
  ])('is refused by %s with ConfigError naming it and the nearest valid name', (where, call, option, nearest) => {
    const err = refusal(call);
    expect(err.option).toBe(option);
    expect(err.message).toContain(`unknown option '${option}' for ${where}`);
    if (nearest) expect(err.message).toContain(`did you mean '${nearest}'?`);
    else expect(err.message).toMatch(/valid options: .*retryTime/);
  });
});

describe('nearestName', () => {
  it('suggests a name a typo away and nothing for a stranger', () => {
    expect(nearestName('lockdelay', ['ttl', 'lockDelay'])).toBe('lockDelay');
    expect(nearestName('bogusOption', ['ttl', 'lockDelay'])).toBeUndefined();
  });
});
