import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ConfigError } from '../../src/errors.js';
import { advanceEventCursor, INITIAL_EVENT_CURSOR, sameLastEvent, type EventCursor } from '../../src/recipes/watch/event-cursor.js';
import { encodePayload } from '../../src/recipes/events/events.js';
import { eventIdToIndex } from '../../src/transport/events.js';

const ev = (id: string) => ({ id });
const ids = (list: Array<{ id: string }>) => list.map((e) => e.id);

describe('eventIdToIndex', () => {
  it("computes Consul's index from an event ID exactly, above 2^53", () => {
    // consul-api §11.3 worked example.
    expect(eventIdToIndex('11111111-2222-3333-4444-555555555555')).toBe(6148895927097058918n);
    expect(eventIdToIndex('11111111-2222-3333-4444-555555555555')! > 2n ** 53n).toBe(true);
  });

  it('is undefined for a malformed ID', () => {
    expect(eventIdToIndex('nope')).toBeUndefined();
  });
});

describe('advanceEventCursor', () => {
  describe('on the first reply', () => {
    it('treats buffered events as history and delivers none by default', () => {
      const step = advanceEventCursor(INITIAL_EVENT_CURSOR, [ev('a'), ev('b')]);
      expect(step.deliver).toEqual([]);
      expect(step.cursor).toEqual({ started: true, lastId: 'b' });
    });

    it('delivers the buffer with history: true', () => {
      expect(ids(advanceEventCursor(INITIAL_EVENT_CURSOR, [ev('a'), ev('b')], { history: true }).deliver)).toEqual(['a', 'b']);
    });
  });

  it('delivers only the events after the last one handled', () => {
    const cursor: EventCursor = { started: true, lastId: 'b' };
    const step = advanceEventCursor(cursor, [ev('a'), ev('b'), ev('c'), ev('d')]);
    expect(ids(step.deliver)).toEqual(['c', 'd']);
    expect(step.cursor.lastId).toBe('d');
    expect(step.truncated).toBe(false);
  });

  it('delivers nothing when the reply holds nothing new', () => {
    const step = advanceEventCursor({ started: true, lastId: 'b' }, [ev('a'), ev('b')]);
    expect(step.deliver).toEqual([]);
  });

  it('delivers everything after an empty start', () => {
    const step = advanceEventCursor({ started: true, lastId: undefined }, [ev('x')]);
    expect(ids(step.deliver)).toEqual(['x']);
    expect(step.truncated).toBe(false);
  });

  describe('when the last event handled left the buffer', () => {
    it('delivers the whole buffer and flags it truncated', () => {
      const step = advanceEventCursor({ started: true, lastId: 'old' }, [ev('p'), ev('q')]);
      expect(ids(step.deliver)).toEqual(['p', 'q']);
      expect(step.truncated).toBe(true);
    });

    it('keeps its position across an empty buffer (agent restart)', () => {
      const empty = advanceEventCursor({ started: true, lastId: 'old' }, []);
      expect(empty.deliver).toEqual([]);
      expect(empty.cursor.lastId).toBe('old');
      expect(empty.truncated).toBe(false);
    });
  });

  it('delivers every event exactly once, in order, whatever the reply boundaries (ring of 256)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 30 }), (bursts) => {
        // Fire `burst` events between reads; the agent keeps the newest 256.
        const fired: string[] = [];
        let buffer: string[] = [];
        let cursor = advanceEventCursor(INITIAL_EVENT_CURSOR, []).cursor;
        const delivered: string[] = [];
        for (const burst of bursts) {
          for (let i = 0; i < burst; i++) {
            const id = `e${fired.length}`;
            fired.push(id);
            buffer = [...buffer, id].slice(-256);
          }
          const step = advanceEventCursor(cursor, buffer.map(ev));
          cursor = step.cursor;
          delivered.push(...ids(step.deliver));
          expect(step.truncated).toBe(false);
        }
        expect(delivered).toEqual(fired);
      }),
    );
  });
});

describe('sameLastEvent', () => {
  it('compares the newest event of two replies', () => {
    expect(sameLastEvent([ev('a'), ev('b')], [ev('b')])).toBe(true);
    expect(sameLastEvent([ev('a')], [ev('a'), ev('b')])).toBe(false);
    expect(sameLastEvent([], [])).toBe(true);
  });
});

describe('encodePayload', () => {
  it('accepts strings, bytes and nothing', () => {
    expect(encodePayload('v1')?.toString()).toBe('v1');
    expect(encodePayload(new Uint8Array([1, 2]))?.equals(Buffer.from([1, 2]))).toBe(true);
    expect(encodePayload(undefined)).toBeNull();
    expect(encodePayload(null)).toBeNull();
  });

  it("refuses other types and payloads over Consul's 512-byte limit, naming the option", () => {
    expect(() => encodePayload({ a: 1 })).toThrow(ConfigError);
    expect(() => encodePayload('x'.repeat(513))).toThrow(/at most 512 bytes/);
  });
});
