import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClosedError, ConfigError, Coordinator, Lock, Semaphore } from '../../src/index.js';
import { optionsFromEnv, normalizeAddress } from '../../src/coordinator.js';
import { startTarget, type Target } from '../support/target.js';

let target: Target;
let coord: Coordinator;

beforeEach(async () => {
  target = await startTarget({ kind: 'dev', dev: { sessionTtlMin: '100ms' } });
  coord = new Coordinator({ address: target.url });
});

afterEach(async () => {
  await coord.close();
  await target.close();
});

describe('options', () => {
  it('reads CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN and CONSUL_DATACENTER', () => {
    expect(optionsFromEnv({ CONSUL_HTTP_ADDR: '10.0.0.1:8500', CONSUL_HTTP_TOKEN: 't', CONSUL_DATACENTER: 'east' })).toEqual({
      address: '10.0.0.1:8500',
      token: 't',
      datacenter: 'east',
    });
  });

  it('normalises bare addresses, honouring CONSUL_HTTP_SSL', () => {
    expect(normalizeAddress('127.0.0.1:8500', {})).toBe('http://127.0.0.1:8500');
    expect(normalizeAddress('consul.local:8501', { CONSUL_HTTP_SSL: 'true' })).toBe('https://consul.local:8501');
    expect(normalizeAddress('https://c:8501/', {})).toBe('https://c:8501');
  });

  it('rejects bad addresses, timeouts and retry counts with ConfigError', () => {
    expect(() => new Coordinator({ address: 'ftp://x' })).toThrow(ConfigError);
    expect(() => new Coordinator({ address: 'http://user:pw@x:1' })).toThrow(/credentials/);
    expect(() => new Coordinator({ address: target.url, timeout: 'soon' })).toThrow(ConfigError);
    expect(() => new Coordinator({ address: target.url, retry: { retries: -1 } })).toThrow(ConfigError);
  });

  it('CONSUL_CACERT pointing nowhere is a ConfigError from fromEnv', () => {
    const before = process.env.CONSUL_CACERT;
    process.env.CONSUL_CACERT = '/nonexistent/ca.pem';
    try {
      expect(() => Coordinator.fromEnv({ address: target.url })).toThrow(ConfigError);
    } finally {
      if (before === undefined) delete process.env.CONSUL_CACERT;
      else process.env.CONSUL_CACERT = before;
    }
  });
});

describe('factories', () => {
  it('coord.lock and coord.semaphore build the same recipes as the classes', () => {
    expect(coord.lock('locks/a')).toBeInstanceOf(Lock);
    expect(coord.semaphore('sems/a', { limit: 2 })).toBeInstanceOf(Semaphore);
  });

  it('withLock runs the function under the lock and releases it', async () => {
    const result = await coord.withLock('locks/with', async ({ signal, fencingToken }) => {
      expect(signal.aborted).toBe(false);
      expect(fencingToken).toBeGreaterThan(0);
      expect(target.dev!.state.getKey('locks/with')?.session).toBeDefined();
      return 42;
    }, { ttl: '1s', lockDelay: 0 });
    expect(result).toBe(42);
    expect(target.dev!.state.getKey('locks/with')?.session).toBeUndefined();
    expect(target.dev!.state.listSessions()).toEqual([]);
  });
});

describe('close()', () => {
  it('releases held locks before destroying their sessions: no lock-delay is left behind', async () => {
    const lock = coord.lock('locks/close', { ttl: '1s', lockDelay: '1m' });
    const lost: unknown[] = [];
    lock.on('lost', (e) => lost.push(e));
    await lock.acquire();
    await coord.close();
    expect(lost).toEqual([]);
    expect(target.dev!.state.getKey('locks/close')?.session).toBeUndefined();
    expect(target.dev!.state.lockDelayMs('locks/close')).toBe(0);
    expect(target.dev!.state.listSessions()).toEqual([]);
  });

  it('is idempotent and makes later calls fail with ClosedError', async () => {
    await Promise.all([coord.close(), coord.close()]);
    expect(() => coord.lock('locks/x')).toThrow(ClosedError);
    expect(() => coord.session()).toThrow(ClosedError);
  });
});
