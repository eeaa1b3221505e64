import { describe, expect, it } from 'vitest';
import { AsyncQueue } from '../../src/recipes/watch/async-queue.js';

describe("AsyncQueue 'all' (event streams)", () => {
  it('delivers every value in order, pushed before or after the pull', async () => {
    const q = new AsyncQueue<number>('all');
    q.push(1);
    q.push(2);
    const first = q.next();
    const second = q.next();
    expect(await second).toEqual({ value: 2, done: false });
    expect(await first).toEqual({ value: 1, done: false });
    const pending = q.next();
    q.push(3);
    expect(await pending).toEqual({ value: 3, done: false });
  });

  it('lets the consumer drain queued values after end(), then finishes', async () => {
    const q = new AsyncQueue<string>('all');
    q.push('a');
    q.push('b');
    q.end();
    q.push('ignored');
    const got: string[] = [];
    for await (const v of q) got.push(v);
    expect(got).toEqual(['a', 'b']);
  });

  it('finishes pending pulls on end()', async () => {
    const q = new AsyncQueue<string>('all');
    const pending = q.next();
    q.end();
    expect(await pending).toEqual({ value: undefined, done: true });
  });

  it('rejects the next pull with the failure, then finishes', async () => {
    const q = new AsyncQueue<string>('all');
    const reason = new Error('aborted');
    q.push('dropped');
    q.fail(reason);
    await expect(q.next()).rejects.toBe(reason);
    expect(await q.next()).toEqual({ value: undefined, done: true });
    const q2 = new AsyncQueue<string>('all');
    const pending = q2.next();
    q2.fail(reason);
    await expect(pending).rejects.toBe(reason);
  });

  it('calls onReturn once when the consumer breaks out, and not after end()', async () => {
    let returned = 0;
    const q = new AsyncQueue<number>('all', () => (returned += 1));
    q.push(1);
    q.push(2);
    for await (const v of q) {
      expect(v).toBe(1);
      break;
    }
    expect(returned).toBe(1);
    expect(q.done).toBe(true);
    expect(q.size).toBe(0);
    await q.return();
    expect(returned).toBe(1);

    const ended = new AsyncQueue<number>('all', () => (returned += 1));
    ended.end();
    await ended.return();
    expect(returned).toBe(1);
  });
});

describe("AsyncQueue 'latest' (state streams)", () => {
  it('keeps only the newest unpulled value', async () => {
    const q = new AsyncQueue<number>('latest');
    q.push(1);
    q.push(2);
    q.push(3);
    expect(q.size).toBe(1);
    expect(await q.next()).toEqual({ value: 3, done: false });
  });

  it('hands a value straight to a waiting consumer', async () => {
    const q = new AsyncQueue<number>('latest');
    const pending = q.next();
    q.push(7);
    q.push(8);
    expect(await pending).toEqual({ value: 7, done: false });
    expect(await q.next()).toEqual({ value: 8, done: false });
  });
});
