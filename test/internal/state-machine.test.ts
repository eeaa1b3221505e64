/** The one state machine and the one safe emitter every recipe uses. */
import { describe, expect, it, vi } from 'vitest';
import { IllegalStateError } from '../../src/errors.js';
import { SafeEmitter } from '../../src/internal/safe-emitter.js';
import { StateMachine } from '../../src/internal/state-machine.js';
import { silentLogger } from '../../src/internal/logger.js';

type S = 'idle' | 'busy' | 'closed';
const moves = { idle: ['busy', 'closed'], busy: ['idle'], closed: [] } as const;

describe('StateMachine', () => {
  it('runs the steps of a move in order: state set, beforeEmit, debug log, emit, each hook given the owner', () => {
    const order: string[] = [];
    const debug = vi.fn(() => order.push('log'));
    const owner = { name: 'owner' };
    const machine: StateMachine<S, string, typeof owner> = new StateMachine<S, string, typeof owner>(
      {
        initial: 'idle',
        moves,
        beforeEmit: (o, from, to, cause) => order.push(`abort ${o.name} ${from}->${to} ${cause} (state ${machine.state})`),
        emit: (o, _from, to) => order.push(`emit ${o.name} ${to}`),
      },
      owner,
      'thing',
      { ...silentLogger, debug },
    );
    machine.transition('busy', 'work');
    expect(order).toEqual(['abort owner idle->busy work (state busy)', 'log', 'emit owner busy']);
    expect(debug).toHaveBeenCalledWith(expect.objectContaining({ what: 'thing', from: 'idle', to: 'busy' }), 'state');
  });

  it('refuses a move the table does not allow with IllegalStateError, and changes nothing', () => {
    const emit = vi.fn();
    const machine = new StateMachine<S>({ initial: 'busy', moves, emit }, undefined, 'thing', silentLogger);
    expect(machine.can('closed')).toBe(false);
    expect(() => machine.transition('closed')).toThrow(IllegalStateError);
    expect(machine.state).toBe('busy');
    expect(emit).not.toHaveBeenCalled();
  });
});

describe('SafeEmitter', () => {
  it('calls every listener even when one throws, removes once-listeners, and logs each throw', () => {
    const warn = vi.fn();
    const emitter = new SafeEmitter<{ ping: [n: number]; error: [err: unknown] }>({ ...silentLogger, warn }, 'pinger');
    const after = vi.fn();
    const once = vi.fn();
    emitter.on('ping', () => {
      throw new Error('bug');
    });
    emitter.once('ping', once);
    emitter.on('ping', after);
    const errors = vi.fn();
    emitter.on('error', errors);

    expect(emitter.emit('ping', 1)).toBe(true);
    emitter.emit('ping', 2);

    expect(after.mock.calls).toEqual([[1], [2]]);
    expect(once.mock.calls).toEqual([[1]]);
    expect(emitter.listenerCount('ping')).toBe(2);
    expect(errors).not.toHaveBeenCalled(); // reported through the logger only
    expect(warn).toHaveBeenCalledTimes(2);
    expect(warn).toHaveBeenCalledWith(expect.objectContaining({ emitter: 'pinger', event: 'ping', err: 'bug' }), expect.any(String));
  });

  it('a throwing error listener is logged too, never thrown', () => {
    const warn = vi.fn();
    const emitter = new SafeEmitter<{ error: [err: unknown] }>({ ...silentLogger, warn }, 'x');
    emitter.on('error', () => {
      throw new Error('worse');
    });
    expect(() => emitter.emit('error', new Error('first'))).not.toThrow();
    expect(warn).toHaveBeenCalledOnce();
  });
});
