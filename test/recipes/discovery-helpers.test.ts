import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { resolveServiceQuery } from '../../src/recipes/discovery/discovery.js';
import { aggregateStatus, healthyInstances, RoundRobin, sameInstances, toInstances } from '../../src/recipes/watch/instances.js';
import type { HealthServiceEntry } from '../../src/transport/health.js';
import { normalizeHealthEntries } from '../../src/transport/health.js';

function entry(node: string, id: string, statuses: Record<string, string>, extra: Partial<HealthServiceEntry['Service']> = {}): HealthServiceEntry {
  return {
    Node: { Node: node, Address: `10.0.0.${node.length}` },
    Service: { ID: id, Service: 'web', Tags: [], Address: '', Meta: {}, Port: 8080, ...extra },
    Checks: Object.entries(statuses).map(([CheckID, Status]) => ({
      Node: node,
      CheckID,
      Name: CheckID,
      Status,
      Notes: '',
      Output: '',
      ServiceID: CheckID === 'serfHealth' ? '' : id,
      ServiceName: 'web',
      ServiceTags: [],
      Type: '',
    })),
  };
}

describe('aggregateStatus', () => {
  const c = (CheckID: string, Status: string) => ({ CheckID, Status });

  it('is passing with no checks or only passing ones', () => {
    expect(aggregateStatus([])).toBe('passing');
    expect(aggregateStatus([c('serfHealth', 'passing'), c('service:a', 'passing')])).toBe('passing');
  });

  it('takes the worst status: critical over warning over passing', () => {
    expect(aggregateStatus([c('a', 'passing'), c('b', 'warning')])).toBe('warning');
    expect(aggregateStatus([c('a', 'warning'), c('b', 'critical')])).toBe('critical');
  });

  it('ranks maintenance above everything, for node and service maintenance', () => {
    expect(aggregateStatus([c('_node_maintenance', 'critical'), c('a', 'passing')])).toBe('maintenance');
    expect(aggregateStatus([c('_service_maintenance:web1', 'critical'), c('a', 'critical')])).toBe('maintenance');
  });

  it('counts an unknown status as critical', () => {
    expect(aggregateStatus([c('a', 'bogus')])).toBe('critical');
  });
});

describe('toInstances', () => {
  it('falls back to the node address when the service has none', () => {
    const [withOwn, withoutOwn] = toInstances([
      entry('n1', 'a', { serfHealth: 'passing' }, { Address: '192.168.1.5' }),
      entry('n2', 'b', { serfHealth: 'passing' }),
    ]);
    expect(withOwn?.address).toBe('192.168.1.5');
    expect(withoutOwn?.address).toBe('10.0.0.2');
  });

  it('sorts by node then ID, whatever order Consul answered in', () => {
    const list = toInstances([entry('n2', 'a', {}), entry('n1', 'b', {}), entry('n1', 'a', {})]);
    expect(list.map((i) => `${i.node}/${i.id}`)).toEqual(['n1/a', 'n1/b', 'n2/a']);
  });

  it('carries tags, meta, port, status and per-check statuses', () => {
    const [i] = toInstances([entry('n1', 'a', { serfHealth: 'passing', 'service:a': 'warning' }, { Tags: ['v2'], Meta: { zone: 'x' }, Port: 9 })]);
    expect(i).toMatchObject({ id: 'a', name: 'web', port: 9, tags: ['v2'], meta: { zone: 'x' }, status: 'warning' });
    expect(i?.checks).toEqual({ serfHealth: 'passing', 'service:a': 'warning' });
  });

  it('survives nulls where Consul sends them (normalizeHealthEntries)', () => {
    const raw = [{ Node: { Node: 'n', Address: 'h' }, Service: { ID: 's', Service: 'web', Tags: null, Address: '', Meta: null, Port: 1 }, Checks: null }];
    const [i] = toInstances(normalizeHealthEntries(raw));
    expect(i).toMatchObject({ tags: [], meta: {}, status: 'passing' });
    expect(normalizeHealthEntries(null)).toEqual([]);
  });
});

describe('sameInstances', () => {
  it('is true for equal lists and false when health, port or membership differs', () => {
    const a = toInstances([entry('n', 'a', { x: 'passing' })]);
    expect(sameInstances(a, toInstances([entry('n', 'a', { x: 'passing' })]))).toBe(true);
    expect(sameInstances(a, toInstances([entry('n', 'a', { x: 'critical' })]))).toBe(false);
    expect(sameInstances(a, toInstances([entry('n', 'a', { x: 'passing' }, { Port: 1 })]))).toBe(false);
    expect(sameInstances(a, [])).toBe(false);
  });
});

describe('RoundRobin', () => {
  it('rotates over the items and returns undefined for an empty list', () => {
    const rr = new RoundRobin();
    expect(rr.next([])).toBeUndefined();
    const items = ['a', 'b', 'c'];
    expect([rr.next(items), rr.next(items), rr.next(items), rr.next(items)]).toEqual(['a', 'b', 'c', 'a']);
  });

  it('keeps counting across list changes instead of restarting at the first item', () => {
    const rr = new RoundRobin();
    rr.next(['a', 'b', 'c']);
    rr.next(['a', 'b', 'c']);
    expect(rr.next(['a', 'b'])).toBe('a');
    expect(rr.next(['a', 'b'])).toBe('b');
  });

  it('spreads picks evenly', () => {
    const rr = new RoundRobin();
    const counts = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const pick = rr.next(['x', 'y', 'z']) as string;
      counts.set(pick, (counts.get(pick) ?? 0) + 1);
    }
    expect([...counts.values()]).toEqual([100, 100, 100]);
  });
});

describe('healthyInstances', () => {
  it('keeps only passing instances', () => {
    const list = toInstances([entry('n', 'a', { x: 'passing' }), entry('n', 'b', { x: 'warning' }), entry('n', 'c', { _node_maintenance: 'critical' })]);
    expect(healthyInstances(list).map((i) => i.id)).toEqual(['a']);
  });
});

describe('resolveServiceQuery', () => {
  it('defaults to passing instances only and no tag', () => {
    expect(resolveServiceQuery('web')).toEqual({ name: 'web', passingOnly: true, tags: [], dc: undefined, failover: undefined, isQuery: false });
  });

  it('accepts one tag or several', () => {
    expect(resolveServiceQuery('web', { tag: 'v2' }).tags).toEqual(['v2']);
    expect(resolveServiceQuery('web', { tag: ['v2', 'eu'], passingOnly: false })).toEqual({
      name: 'web',
      passingOnly: false,
      tags: ['v2', 'eu'],
      dc: undefined,
      failover: undefined,
      isQuery: false,
    });
  });

  it('resolves dc, failover and a { query } target', () => {
    expect(resolveServiceQuery('web', { dc: 'dc2' }).dc).toBe('dc2');
    expect(resolveServiceQuery('web', { failover: { nearest: 2 } }).failover).toEqual({ nearest: 2, datacenters: [] });
    expect(resolveServiceQuery({ query: 'billing' })).toMatchObject({ name: 'billing', isQuery: true });
    expect(() => resolveServiceQuery('web', { dc: '' })).toThrow(ConfigError);
    expect(() => resolveServiceQuery('web', { failover: { nearest: -1 } })).toThrow(/failover.nearest/);
  });

  it('throws ConfigError naming the option for bad input', () => {
    expect(() => resolveServiceQuery('')).toThrow(ConfigError);
    expect(() => resolveServiceQuery('a/b')).toThrow(/service name/);
    expect(() => resolveServiceQuery('web', { tag: '' })).toThrow(/"tag"/);
    expect(() => resolveServiceQuery('web', { passingOnly: 'yes' as never })).toThrow(/"passingOnly"/);
  });
});
