/**
 * Conformance: user events (agent-health-catalog-events.md §11, §1.3; agent checklist items
 * A43–A51, A58). Agent checklist numbers carry an `A`; `#A0` marks a rule of the spec that has
 * no checklist number. The event buffer is shared by every test on an agent, so each test uses its
 * own event names and reads the list narrowed by `?name`.
 */
import { expect, it } from 'vitest';
import { describeConformance, expectError } from '../support/conformance.js';
import { parkedFromNow } from '../support/parked.js';
import { consulFetch, startTarget, type ConsulResponse } from '../support/target.js';
import { serviceHelpers, uniqueName } from '../testing/dev-server/service-helpers.js';

interface EventJson {
  ID: string;
  Name: string;
  Payload: string | null;
  NodeFilter: string;
  ServiceFilter: string;
  TagFilter: string;
  Version: number;
  LTime: number;
}

/** event_endpoint.go uuidToUint64, written independently of the server's code. */
function idToIndex(id: string): string {
  const hex = id.replace(/-/g, '');
  return (BigInt(`0x${hex.slice(0, 16)}`) ^ BigInt(`0x${hex.slice(16)}`)).toString();
}

describeConformance('User events', (ctx) => {
  const svc = serviceHelpers(ctx);

  const fire = async (name: string, payload?: string | Buffer, query = ''): Promise<EventJson> => {
    const res = await ctx.req('PUT', `/v1/event/fire/${encodeURIComponent(name)}${query}`, payload === undefined ? {} : { body: payload });
    expect(res.status, res.text).toBe(200);
    return res.json<EventJson>();
  };
  const list = async (query = ''): Promise<{ res: ConsulResponse; events: EventJson[] }> => {
    const res = await ctx.req('GET', `/v1/event/list${query}`);
    expect(res.status, res.text).toBe(200);
    return { res, events: res.json<EventJson[]>() };
  };

  it('#A43 a fire answers the event: name, base64 payload, version 1, a UUID, LTime 0', async () => {
    const name = uniqueName('deploy');
    const res = await ctx.req('PUT', `/v1/event/fire/${name}`, { body: 'v1' });
    expect(res.status, res.text).toBe(200);
    expect(res.header('content-type')).toMatch(/^application\/json/);
    const event = res.json<EventJson>();
    expect(event).toMatchObject({ Name: name, Payload: 'djE=', Version: 1, LTime: 0, NodeFilter: '', ServiceFilter: '', TagFilter: '' });
    expect(event.ID).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    // No body: a null payload.
    expect((await fire(name)).Payload).toBeNull();
    expectError(await ctx.req('PUT', '/v1/event/fire/'), 400, 'Missing name');
  });

  it('#A44 a tag filter without a service filter, or a bad regexp, answers 500', async () => {
    const name = uniqueName('deploy');
    expectError(await ctx.req('PUT', `/v1/event/fire/${name}?tag=x`), 500, 'Cannot provide tag filter without service filter');
    expectError(await ctx.req('PUT', `/v1/event/fire/${name}?node=(`), 500, 'Invalid node filter:');
    expectError(await ctx.req('PUT', `/v1/event/fire/${name}?service=[`), 500, 'Invalid service filter:');
    expectError(await ctx.req('PUT', `/v1/event/fire/${name}?service=web&tag=*`), 500, 'Invalid tag filter:');
    // RE2 has no lookarounds: refused as in Go.
    expectError(await ctx.req('PUT', `/v1/event/fire/${name}?node=${encodeURIComponent('a(?=b)')}`), 500, 'Invalid node filter:');
    expect((await list(`?name=${name}`)).events).toEqual([]);
  });

  it('#A45 a payload that does not fit the 512-byte gossip limit answers 500', async () => {
    const res = await ctx.req('PUT', `/v1/event/fire/${uniqueName('x')}`, { body: 'a'.repeat(600) });
    expect(res.status).toBe(500);
    expect(res.text).toContain('exceeds configured limit of 512 bytes');
    const fits = await ctx.req('PUT', `/v1/event/fire/${uniqueName('x')}`, { body: 'a'.repeat(300) });
    expect(fits.status, fits.text).toBe(200);
  });

  it('#A46 fire is PUT only', async () => {
    const res = await ctx.req('GET', '/v1/event/fire/deploy');
    expect(res.status).toBe(405);
    expect(res.header('allow')).toBe('OPTIONS,PUT');
    expect(res.text).toBe('method GET not allowed');
    expect((await ctx.req('PUT', '/v1/event/list')).status).toBe(405);
  });

  it('#A47 the list is oldest first and its index is the XOR of the newest listed event’s UUID halves', async () => {
    const a = await fire(uniqueName('a'), 'first');
    const b = await fire(uniqueName('b'), 'second');
    const all = await list();
    const names = all.events.map((e) => e.Name);
    expect(names.slice(-2)).toEqual([a.Name, b.Name]);
    expect(all.res.header('x-consul-index')).toBe(idToIndex(b.ID));
    const onlyA = await list(`?name=${a.Name}`);
    expect(onlyA.events.map((e) => e.ID)).toEqual([a.ID]);
    expect(onlyA.res.header('x-consul-index')).toBe(idToIndex(a.ID));
    // Received events carry their Lamport time; later events have larger ones.
    const [ea, eb] = all.events.slice(-2);
    expect(ea!.LTime).toBeGreaterThan(0);
    expect(eb!.LTime).toBeGreaterThan(ea!.LTime);
    expect(ea!.Payload).toBe(Buffer.from('first').toString('base64'));
  });

  it('#A48 with no matching event the list is [] with index 1', async () => {
    const { res, events } = await list(`?name=${uniqueName('none')}`);
    expect(events).toEqual([]);
    expect(res.header('x-consul-index')).toBe('1');
  });

  it('#A49 a blocking list waits while its index is current and returns with the new event; another index returns at once', async () => {
    const name = uniqueName('block');
    await fire(name, '1');
    const first = await list(`?name=${name}`);
    const index = first.res.header('x-consul-index')!;
    const parked = parkedFromNow(ctx.target, '/v1/event/list');
    const blocked = ctx.req('GET', `/v1/event/list?name=${name}&index=${index}&wait=10s`);
    let done = false;
    void blocked.then(() => {
      done = true;
    });
    await parked();
    expect(done).toBe(false);
    const second = await fire(name, '2');
    const woke = await blocked;
    expect(woke.status).toBe(200);
    expect(woke.json<EventJson[]>().map((e) => e.ID).at(-1)).toBe(second.ID);
    expect(woke.header('x-consul-index')).toBe(idToIndex(second.ID));
    const other = await ctx.req('GET', `/v1/event/list?name=${name}&index=12345&wait=10s`);
    expect(other.elapsedMs).toBeLessThan(2_000);
    expect(other.json<unknown[]>()).toHaveLength(2);
    // A wait that runs out answers 200 with the same list.
    const timedOut = await ctx.req('GET', `/v1/event/list?name=${name}&index=${woke.header('x-consul-index')}&wait=300ms`);
    expect(timedOut.status).toBe(200);
    expect(timedOut.elapsedMs).toBeGreaterThanOrEqual(250);
    expect(timedOut.header('x-consul-index')).toBe(woke.header('x-consul-index'));
    expectError(await ctx.req('GET', '/v1/event/list?index=abc'), 400, 'Invalid index');
    expectError(await ctx.req('GET', '/v1/event/list?wait=abc'), 400, 'Invalid wait time');
  });

  it('#A50 an event whose node filter does not match this agent is accepted but not kept', async () => {
    const name = uniqueName('filtered');
    const res = await ctx.req('PUT', `/v1/event/fire/${name}?node=${encodeURIComponent('^other$')}`);
    expect(res.status).toBe(200);
    expect(res.json<EventJson>().NodeFilter).toBe('^other$');
    const mine = await fire(name, undefined, `?node=${encodeURIComponent(`^${ctx.target.nodeName}$`)}`);
    expect((await list(`?name=${name}`)).events.map((e) => e.ID)).toEqual([mine.ID]);
  });

  it('#A0 service and tag filters match this agent’s local services', async () => {
    const web = uniqueName('web');
    await svc.register({ Name: web, Tags: ['blue'] });
    const name = uniqueName('svc-filtered');
    const kept = await fire(name, undefined, `?service=${encodeURIComponent(`^${web}$`)}`);
    await fire(name, undefined, `?service=${encodeURIComponent('^no-such-service$')}`);
    const tagged = await fire(name, undefined, `?service=${encodeURIComponent(`^${web}$`)}&tag=blu`);
    await fire(name, undefined, `?service=${encodeURIComponent(`^${web}$`)}&tag=green`);
    expect((await list(`?name=${name}`)).events.map((e) => e.ID)).toEqual([kept.ID, tagged.ID]);
  });

  it('#A0 remote-exec events (_rexec) are never listed', async () => {
    const before = (await list('?name=_rexec')).events.length;
    const res = await ctx.req('PUT', '/v1/event/fire/_rexec');
    expect(res.status).toBe(200);
    expect((await list('?name=_rexec')).events).toHaveLength(before);
  });

  it('#A51 the buffer keeps the newest 256 events', async () => {
    const name = uniqueName('ring');
    for (let i = 0; i < 257; i += 1) await fire(name, String(i));
    const { events } = await list(`?name=${name}`);
    expect(events).toHaveLength(256);
    expect(events[0]?.Payload).toBe(Buffer.from('1').toString('base64'));
    expect(events.at(-1)?.Payload).toBe(Buffer.from('256').toString('base64'));
  });
});

describeConformance(
  'User events on a fresh agent',
  () => {
    it('#A45 the size limit counts the gossip name and the encoded event, then the whole serf message', async () => {
      const fresh = await startTarget({ kind: 'dev' });
      try {
        // Name of 10 bytes; the first event (Lamport time 1). The serf message is the binding
        // limit: 112 + 1 + (payload + 3) bytes must fit in 512, so 396 payload bytes fit.
        const put = (n: number) => consulFetch(fresh, 'PUT', '/v1/event/fire/size-probe', { body: 'p'.repeat(n) });
        const largest = await put(396);
        expect(largest.status, largest.text).toBe(200);
        const after = await put(397);
        expect([after.status, after.text]).toEqual([500, 'encoded user event exceeds configured limit of 512 bytes after encoding']);
        const before = await put(427);
        expect([before.status, before.text]).toEqual([500, 'user event exceeds configured limit of 512 bytes before encoding']);
      } finally {
        await fresh.close();
      }
    });

    it('#A0 events are lost on an agent restart, even one that keeps its state', async () => {
      const fresh = await startTarget({ kind: 'dev' });
      try {
        expect((await consulFetch(fresh, 'PUT', '/v1/event/fire/gone')).status).toBe(200);
        await fresh.dev!.restart({ keepState: true });
        const res = await consulFetch(fresh, 'GET', '/v1/event/list');
        expect(res.json()).toEqual([]);
        expect(res.header('x-consul-index')).toBe('1');
      } finally {
        await fresh.close();
      }
    });
  },
  { devOnly: true },
);

const ROOT = 'root-secret-for-event-conformance';

describeConformance(
  'User events with ACLs (default deny, one management token)',
  (ctx) => {
    it('#A58 firing without event:write answers 403 with exactly "Permission denied"', async () => {
      const name = uniqueName('denied');
      const res = await ctx.req('PUT', `/v1/event/fire/${name}`, { token: null });
      expect(res.status).toBe(403);
      expect(res.text).toBe('Permission denied');
      expect((await ctx.req('PUT', `/v1/event/fire/${name}`)).status).toBe(200);
    });

    it('#A58 an unknown token fails the fire RPC with a 500; reads filter by event:read', async () => {
      const name = uniqueName('acl');
      const unknown = await ctx.req('PUT', `/v1/event/fire/${name}`, { token: 'not-a-known-secret' });
      expect([unknown.status, unknown.text]).toEqual([500, 'ACL not found']);
      expect((await ctx.req('PUT', `/v1/event/fire/${name}`)).status).toBe(200);
      const anonymous = await ctx.req('GET', `/v1/event/list?name=${name}`, { token: null });
      expect(anonymous.json()).toEqual([]);
      expect(anonymous.header('x-consul-index')).toBe('1');
      expect(anonymous.header('x-consul-results-filtered-by-acls')).toBeUndefined();
      expectError(await ctx.req('GET', '/v1/event/list', { token: 'not-a-known-secret' }), 403, 'ACL not found');
      expect((await ctx.req('GET', `/v1/event/list?name=${name}`)).json<unknown[]>()).toHaveLength(1);
    });
  },
  { devOnly: true, dev: { aclToken: ROOT } },
);
