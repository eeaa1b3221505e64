/**
 * Catalog state rules without HTTP: service writes and their indexes (`service.<name>`, the
 * extinction index), service-check copies, deletes that cascade to checks and sessions.
 * Mirrors agent/consul/state/catalog.go.
 */
import { describe, expect, it } from 'vitest';
import {
  catalogServices,
  checksForInstance,
  deleteCheck,
  deleteService,
  ensureCheck,
  ensureNode,
  ensureService,
  maxIndexForService,
  serviceNodes,
} from '../../../src/testing/dev-server/state/catalog.js';
import { sessionCreate } from '../../../src/testing/dev-server/state/sessions.js';
import { Store } from '../../../src/testing/dev-server/state/store.js';
import type { CheckRow, ServiceRow } from '../../../src/testing/dev-server/state/types.js';

const TTL = 60_000;

function service(id: string, name: string, extra: Partial<ServiceRow> = {}): Omit<ServiceRow, 'CreateIndex' | 'ModifyIndex'> {
  return {
    Node: 'dev',
    ServiceKind: '',
    ServiceID: id,
    ServiceName: name,
    ServiceTags: [],
    ServiceAddress: '',
    ServiceTaggedAddresses: {},
    ServiceWeights: { Passing: 1, Warning: 1 },
    ServiceMeta: null,
    ServicePort: 0,
    ServiceEnableTagOverride: false,
    ...extra,
  };
}

function check(id: string, serviceId = '', status: CheckRow['Status'] = 'passing'): Omit<CheckRow, 'CreateIndex' | 'ModifyIndex'> {
  return {
    Node: 'dev',
    CheckID: id,
    Name: id,
    Status: status,
    Notes: '',
    Output: '',
    ServiceID: serviceId,
    ServiceName: '',
    ServiceTags: [],
    Type: 'ttl',
    Interval: '',
    Timeout: '',
    ExposedPort: 0,
    Definition: {},
  };
}

function storeWithNode(): Store {
  const store = new Store();
  store.write((tx) => {
    ensureNode(tx, { ID: 'n', Node: 'dev', Address: '127.0.0.1', Datacenter: 'dc1', TaggedAddresses: {}, Meta: {} });
    ensureCheck(tx, check('serfHealth'), TTL);
  });
  return store;
}

describe('catalog services', () => {
  it('needs the node, keeps CreateIndex, and does not rewrite an unchanged service', () => {
    const empty = new Store();
    expect(() => empty.write((tx) => ensureService(tx, service('web1', 'web')))).toThrow('Missing node registration');
    const store = storeWithNode();
    const first = store.write((tx) => ensureService(tx, service('web1', 'web', { ServiceTags: ['a'] })));
    const same = store.write((tx) => ensureService(tx, service('web1', 'web', { ServiceTags: ['a'] })));
    expect(same.result.ModifyIndex).toBe(first.index);
    expect(store.read().tableIndex('services')).toBe(first.index);
    const changed = store.write((tx) => ensureService(tx, service('web1', 'web', { ServiceTags: ['b'] })));
    expect(changed.result).toMatchObject({ CreateIndex: first.index, ModifyIndex: changed.index });
  });

  it('gives each service name its own index, raised by its instances and their checks only', () => {
    const store = storeWithNode();
    const web = store.write((tx) => ensureService(tx, service('web1', 'web')));
    const api = store.write((tx) => ensureService(tx, service('api1', 'api')));
    const tx = store.read();
    expect(maxIndexForService(tx, 'web', true, true)).toBe(web.index);
    expect(maxIndexForService(tx, 'api', true, true)).toBe(api.index);
    const c = store.write((t) => ensureCheck(t, check('service:web1', 'web1'), TTL));
    expect(maxIndexForService(store.read(), 'web', true, true)).toBe(c.index);
    expect(maxIndexForService(store.read(), 'api', true, true)).toBe(api.index);
    // A node-level check touches every service of the node.
    const node = store.write((t) => ensureCheck(t, check('disk'), TTL));
    expect(maxIndexForService(store.read(), 'web', true, true)).toBe(node.index);
    expect(maxIndexForService(store.read(), 'api', true, true)).toBe(node.index);
  });

  it('reports the extinction index for a service with no instance, once some service went extinct', () => {
    const store = storeWithNode();
    store.write((tx) => ensureService(tx, service('web1', 'web')));
    store.write((tx) => ensureService(tx, service('web2', 'web')));
    // Before any extinction, an unknown service reads the catalog index.
    expect(serviceNodes(store.read(), 'ghost', undefined, true).index).toBe(store.index);
    const one = store.write((tx) => deleteService(tx, 'dev', 'web1', TTL));
    expect(one.result).toBe(true);
    expect(serviceNodes(store.read(), 'web', undefined, true).index).toBe(one.index);
    expect(store.read().namedIndex('service_last_extinction')).toBeUndefined();
    const gone = store.write((tx) => deleteService(tx, 'dev', 'web2', TTL));
    const tx = store.read();
    expect(tx.namedIndex('service.web')).toBeUndefined();
    expect(serviceNodes(tx, 'web', undefined, true)).toEqual({ index: gone.index, services: [] });
    expect(serviceNodes(tx, 'ghost', undefined, false).index).toBe(gone.index);
    // A tag filter that matches nothing still reads the service's own index.
    store.write((t) => ensureService(t, service('web3', 'web', { ServiceTags: ['x'] })));
    const filtered = serviceNodes(store.read(), 'web', ['nope'], true);
    expect(filtered.services).toEqual([]);
    expect(filtered.index).toBe(store.read().namedIndex('service.web'));
  });

  it('copies the service name and tags into its checks and refuses a check of an unknown service', () => {
    const store = storeWithNode();
    store.write((tx) => ensureService(tx, service('web1', 'web', { ServiceTags: ['t'] })));
    store.write((tx) => ensureCheck(tx, check('c1', 'web1'), TTL));
    expect(store.read().get('checks', 'dev\u0000c1')).toMatchObject({ ServiceName: 'web', ServiceTags: ['t'] });
    expect(() => store.write((tx) => ensureCheck(tx, check('c2', 'ghost'), TTL))).toThrow('Missing service registration');
  });

  it('deletes a service with its checks and the sessions bound to them in one write', () => {
    const store = storeWithNode();
    store.write((tx) => {
      ensureService(tx, service('web1', 'web'));
      ensureCheck(tx, check('service:web1', 'web1'), TTL);
    });
    store.write((tx) =>
      sessionCreate(tx, {
        ID: 's1', Name: '', Node: 'dev', LockDelay: 0, Behavior: 'release', TTL: '',
        NodeChecks: [], ServiceChecks: [{ ID: 'service:web1', Namespace: '' }], Checks: null,
      }),
    );
    const before = store.index;
    store.write((tx) => deleteService(tx, 'dev', 'web1', TTL));
    expect(store.index).toBe(before + 1);
    const tx = store.read();
    expect(tx.get('services', 'dev\u0000web1')).toBeUndefined();
    expect(tx.get('checks', 'dev\u0000service:web1')).toBeUndefined();
    expect(tx.get('sessions', 's1')).toBeUndefined();
    expect(store.write((t) => deleteService(t, 'dev', 'web1', TTL)).result).toBe(false);
  });

  it('lists node-level checks first, then the instance checks, each by CheckID', () => {
    const store = storeWithNode();
    store.write((tx) => {
      ensureService(tx, service('web1', 'web'));
      ensureCheck(tx, check('zz', 'web1'), TTL);
      ensureCheck(tx, check('aa', 'web1'), TTL);
      ensureCheck(tx, check('_node_maintenance', '', 'critical'), TTL);
    });
    const svc = store.read().get('services', 'dev\u0000web1')!;
    expect(checksForInstance(store.read(), svc).map((c) => c.CheckID)).toEqual(['_node_maintenance', 'serfHealth', 'aa', 'zz']);
    store.write((tx) => deleteCheck(tx, 'dev', '_node_maintenance', TTL));
    expect(checksForInstance(store.read(), svc).map((c) => c.CheckID)).toEqual(['serfHealth', 'aa', 'zz']);
  });

  it('merges tags per name for the services list; the index is the services table index', () => {
    const store = storeWithNode();
    store.write((tx) => ensureService(tx, service('a1', 'a', { ServiceTags: ['x', 'y'] })));
    const last = store.write((tx) => ensureService(tx, service('a2', 'a', { ServiceTags: ['y', 'z'] })));
    const { index, services } = catalogServices(store.read());
    expect(index).toBe(last.index);
    expect(services.get('a')).toEqual(['x', 'y', 'z']);
  });

  it('rolls back named indexes with a failed write', () => {
    const store = storeWithNode();
    expect(() =>
      store.write((tx) => {
        ensureService(tx, service('web1', 'web'));
        throw new Error('abort');
      }),
    ).toThrow('abort');
    expect(store.read().namedIndex('service.web')).toBeUndefined();
    expect(store.read().get('services', 'dev\u0000web1')).toBeUndefined();
  });
});
