/**
 * User-event internals: the msgpack sizes behind the serf limit, the UUID-derived index, Go
 * regexp handling and the ring buffer with delivery filters.
 */
import { describe, expect, it } from 'vitest';
import {
  EVENT_BUFFER_SIZE,
  UserEvents,
  checkUserEventSize,
  encodedUserEventSize,
  uuidToUint64,
} from '../../../src/testing/dev-server/agent/events.js';
import { compileGoRegexp } from '../../../src/testing/dev-server/agent/regexp.js';

const base = { Name: 'deploy', Payload: null, NodeFilter: '', ServiceFilter: '', TagFilter: '' };

describe('user event sizes', () => {
  it('counts the encoded UserEvent field by field (fixmap, fixstr/str8 keys and values, bin payload)', () => {
    // 1 map + "ID"(3)+uuid(2+36) + "n"(2)+"deploy"(7) + "v"(2)+1(1)
    expect(encodedUserEventSize(base)).toBe(1 + 3 + 38 + 2 + 7 + 2 + 1);
    // + "p"(2) + bin8 header (2) + 10
    expect(encodedUserEventSize({ ...base, Payload: Buffer.alloc(10) })).toBe(54 + 2 + 2 + 10);
    // bin16 from 256 bytes on
    expect(encodedUserEventSize({ ...base, Payload: Buffer.alloc(256) }) - encodedUserEventSize({ ...base, Payload: Buffer.alloc(255) })).toBe(2);
    // filters: "nf"(3) + fixstr value
    expect(encodedUserEventSize({ ...base, NodeFilter: 'abc' })).toBe(54 + 3 + 4);
    // a 32-byte string needs str8 (2-byte header)
    expect(encodedUserEventSize({ ...base, Name: 'x'.repeat(32) }) - encodedUserEventSize({ ...base, Name: 'x'.repeat(31) })).toBe(2);
  });

  it('refuses before encoding when name + encoded event exceed 512, after encoding when the serf message does', () => {
    const name = 'size-probe';
    const at = (n: number, ltime = 1) => () => checkUserEventSize({ ...base, Name: name, Payload: Buffer.alloc(n) }, ltime);
    expect(at(396)).not.toThrow();
    expect(at(397)).toThrow('encoded user event exceeds configured limit of 512 bytes after encoding');
    expect(at(427)).toThrow('user event exceeds configured limit of 512 bytes before encoding');
    // A Lamport time of 128 or more takes one byte more.
    expect(at(396, 128)).toThrow('after encoding');
    expect(at(395, 128)).not.toThrow();
  });
});

describe('event index', () => {
  it('XORs the UUID halves into an exact uint64', () => {
    expect(uuidToUint64('11111111-2222-3333-4444-555555555555')).toBe(6148895927097058918n);
    expect(uuidToUint64('ffffffff-ffff-ffff-0000-000000000000')).toBe(0xffffffffffffffffn);
    expect(uuidToUint64('00000000-0000-0000-0000-000000000000')).toBe(0n);
  });
});

describe('Go regexps', () => {
  it('accepts RE2 syntax with leading flags and (?P<name>…) groups', () => {
    const re = compileGoRegexp('(?i)^WEB-(?P<n>\\d+)$');
    expect(re).toBeInstanceOf(RegExp);
    expect((re as RegExp).test('web-12')).toBe(true);
  });

  it('refuses what Go refuses, with Go-style texts', () => {
    expect(compileGoRegexp('(')).toBe('error parsing regexp: missing closing ): `(`');
    expect(compileGoRegexp('*')).toBe('error parsing regexp: missing argument to repetition operator: `*`');
    expect(compileGoRegexp('a(?=b)')).toBe('error parsing regexp: invalid or unsupported Perl syntax: `(?=`');
    expect(compileGoRegexp('(a)\\1')).toBe('error parsing regexp: invalid escape sequence: `\\1`');
    expect(compileGoRegexp('[a')).toMatch(/^error parsing regexp: missing closing \]/);
  });
});

describe('event buffer', () => {
  const make = (services: Array<{ id: string; tags: string[] }> = []) => new UserEvents({ nodeName: 'dev', localServices: () => services });

  it('keeps the newest 256, oldest first, with increasing Lamport times from 1', () => {
    const events = make();
    const fired = [];
    for (let i = 0; i < EVENT_BUFFER_SIZE + 1; i++) fired.push(events.fire({ ...base, Payload: Buffer.from(String(i)) }));
    const listed = events.list();
    expect(listed).toHaveLength(EVENT_BUFFER_SIZE);
    expect(listed[0]?.ID).toBe(fired[1]?.ID);
    expect(listed[0]?.LTime).toBe(2);
    expect(listed.at(-1)?.LTime).toBe(EVENT_BUFFER_SIZE + 1);
    expect(fired.every((e) => e.LTime === 0)).toBe(true);
  });

  it('delivers by node name, by local service ID, and by a tag of that service; never _rexec', () => {
    const events = make([{ id: 'web-1', tags: ['blue'] }]);
    const woke: number[] = [];
    events.subscribe(() => woke.push(events.list().length));
    events.fire({ ...base, NodeFilter: '^dev$' });
    events.fire({ ...base, NodeFilter: '^other$' });
    events.fire({ ...base, ServiceFilter: '^web' });
    events.fire({ ...base, ServiceFilter: '^api' });
    events.fire({ ...base, ServiceFilter: 'web', TagFilter: 'blu' });
    events.fire({ ...base, ServiceFilter: 'web', TagFilter: 'green' });
    events.fire({ ...base, Name: '_rexec' });
    expect(events.list().map((e) => [e.NodeFilter, e.ServiceFilter, e.TagFilter])).toEqual([
      ['^dev$', '', ''],
      ['', '^web', ''],
      ['', 'web', 'blu'],
    ]);
    expect(woke).toEqual([1, 2, 3]);
  });

  it('validates before anything is kept', () => {
    const events = make();
    expect(() => events.fire({ ...base, Name: '' })).toThrow('User event missing name');
    expect(() => events.fire({ ...base, TagFilter: 'x' })).toThrow('Cannot provide tag filter without service filter');
    expect(() => events.fire({ ...base, ServiceFilter: '(' })).toThrow(/^Invalid service filter: error parsing regexp/);
    expect(events.list()).toEqual([]);
  });
});
