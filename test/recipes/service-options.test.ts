import { describe, expect, it } from 'vitest';
import { ConfigError, ConsulError } from '../../src/errors.js';
import {
  buildServiceDefinition,
  heartbeatIntervalMs,
  resolveServiceOptions,
  serviceCheckId,
} from '../../src/recipes/service/service.js';
import { isUnknownCheckError } from '../../src/transport/services.js';

describe('resolveServiceOptions', () => {
  it('fills a random instance ID from the name and starts TTL checks passing', () => {
    const o = resolveServiceOptions({ name: 'billing', check: { ttl: '5s' } });
    expect(o.id).toMatch(/^billing-[0-9a-f]{8}$/);
    expect(o.initialStatus).toBe('passing');
    expect(o.check).toEqual({ kind: 'ttl', ttlMs: 5000, notes: undefined });
  });

  it("leaves HTTP/TCP checks' initial status to Consul unless given", () => {
    expect(resolveServiceOptions({ name: 'a', check: { http: 'http://127.0.0.1:1/h', interval: '1s' } }).initialStatus).toBeUndefined();
    expect(resolveServiceOptions({ name: 'a', check: { tcp: '127.0.0.1:1', interval: 1000 }, initialStatus: 'warning' }).initialStatus).toBe('warning');
  });

  it.each([
    [{ name: '' }, 'name'],
    [{ name: 'a/b' }, 'name'],
    [{ name: 'a', id: 'x/y' }, 'id'],
    [{ name: 'a', address: '0.0.0.0' }, 'address'],
    [{ name: 'a', port: 70000 }, 'port'],
    [{ name: 'a', tags: 'x' }, 'tags'],
    [{ name: 'a', meta: { k: 1 } }, 'meta'],
    [{ name: 'a', check: {} }, 'check'],
    [{ name: 'a', check: { ttl: '5s', http: 'http://x' } }, 'check'],
    [{ name: 'a', check: { ttl: '5s', interval: '1s' } }, 'check.interval'],
    [{ name: 'a', check: { http: 'http://x' } }, 'check.interval'],
    [{ name: 'a', check: { http: 'ftp://x', interval: '1s' } }, 'check.http'],
    [{ name: 'a', check: { tcp: 'nohost', interval: '1s' } }, 'check.tcp'],
    [{ name: 'a', check: { ttl: 'soon' } }, 'check.ttl'],
    [{ name: 'a', deregisterCriticalServiceAfter: '1m' }, 'deregisterCriticalServiceAfter'],
    [{ name: 'a', check: { ttl: '5s' }, initialStatus: 'bogus' }, 'initialStatus'],
    [{ name: 'a', initialStatus: 'passing' }, 'initialStatus'],
  ])('throws ConfigError synchronously for %j, naming %s', (options, option) => {
    let caught: unknown;
    try {
      resolveServiceOptions(options as never);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).option).toBe(option);
  });
});

describe('buildServiceDefinition', () => {
  it('registers a TTL check under a fixed ID with the given status', () => {
    const o = resolveServiceOptions({ name: 'billing', id: 'b1', port: 80, tags: ['v1'], meta: { a: 'b' }, check: { ttl: '5s' } });
    expect(buildServiceDefinition(o, 'passing')).toEqual({
      ID: 'b1',
      Name: 'billing',
      Port: 80,
      Tags: ['v1'],
      Meta: { a: 'b' },
      Check: { CheckID: 'service:b1', Name: "Service 'billing' check", TTL: '5s', Status: 'passing' },
    });
  });

  it('writes HTTP checks with interval, timeout, method and Go duration strings', () => {
    const o = resolveServiceOptions({
      name: 'web',
      id: 'w1',
      address: '10.1.2.3',
      check: { http: 'http://10.1.2.3/health', interval: 1500, timeout: '250ms', method: 'HEAD' },
      deregisterCriticalServiceAfter: '2m',
    });
    expect(buildServiceDefinition(o, undefined).Check).toEqual({
      CheckID: 'service:w1',
      Name: "Service 'web' check",
      HTTP: 'http://10.1.2.3/health',
      Method: 'HEAD',
      Interval: '1500ms',
      Timeout: '250ms',
      DeregisterCriticalServiceAfter: '120s',
    });
  });

  it('sends deregisterCriticalServiceAfter as given: the agent applies its own floor', () => {
    const o = resolveServiceOptions({ name: 'a', id: 'a', check: { tcp: 'h:1', interval: '1s' }, deregisterCriticalServiceAfter: '5s' });
    expect(buildServiceDefinition(o, undefined).Check?.DeregisterCriticalServiceAfter).toBe('5s');
  });

  it('registers no check when none is given', () => {
    expect(buildServiceDefinition(resolveServiceOptions({ name: 'a', id: 'a' }), undefined).Check).toBeUndefined();
  });
});

describe('heartbeat timing', () => {
  it('heartbeats at a third of the TTL, leaving two more chances before expiry', () => {
    expect(heartbeatIntervalMs(9000)).toBe(3000);
    expect(serviceCheckId('x')).toBe('service:x');
  });
});

describe('isUnknownCheckError', () => {
  it('recognises "the agent forgot the check" answers', () => {
    expect(isUnknownCheckError(new ConsulError(404, 'PUT /v1/agent/check/update/x', 'Unknown check ID "x". Ensure that the check ID is passed, not the check name.'))).toBe(true);
    expect(isUnknownCheckError(new ConsulError(500, 'PUT /v1/agent/check/update/x', 'CheckID "x" does not have associated TTL'))).toBe(true);
    expect(isUnknownCheckError(new ConsulError(500, 'PUT /v1/agent/check/update/x', 'Unknown check "x"'))).toBe(true);
  });

  it('leaves other failures to the retry loop', () => {
    expect(isUnknownCheckError(new ConsulError(500, 'PUT /v1/agent/check/update/x', 'No cluster leader'))).toBe(false);
    expect(isUnknownCheckError(new ConsulError(0, 'PUT /v1/agent/check/update/x', 'ECONNREFUSED'))).toBe(false);
    expect(isUnknownCheckError(new Error('x'))).toBe(false);
  });
});
