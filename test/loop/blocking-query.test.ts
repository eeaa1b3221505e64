import { describe, expect, it } from 'vitest';
import { blockingQuery, type BlockingReadArgs } from '../../src/loop/blocking-query.js';
import type { QueryMeta } from '../../src/transport/client.js';

const meta = (index: bigint): QueryMeta => ({ index, knownLeader: true, lastContactMs: 0 });

/** A scripted read: each call returns the next answer and records the index it was asked for. */
function scripted(answers: Array<{ index: bigint; value: string } | Error>) {
  const asked: bigint[] = [];
  let i = 0;
  const read = async ({ index, signal }: BlockingReadArgs) => {
    asked.push(index);
    const answer = answers[i++];
    if (answer === undefined) {
      // Out of script: block until aborted, as a real blocking query would.
      await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
      throw new Error('unreachable');
    }
    if (answer instanceof Error) throw answer;
    return { value: answer.value, meta: meta(answer.index) };
  };
  return { read, asked };
}

async function collect<T>(gen: AsyncGenerator<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  for await (const item of gen) {
    out.push(item);
    if (out.length === n) break;
  }
  return out;
}

describe('blockingQuery', () => {
  it('reads once without an index, then blocks on the last index seen', async () => {
    const { read, asked } = scripted([
      { index: 5n, value: 'a' },
      { index: 7n, value: 'b' },
    ]);
    const ac = new AbortController();
    const got = await collect(blockingQuery(read, { signal: ac.signal }), 2);
    expect(got.map((r) => r.value)).toEqual(['a', 'b']);
    expect(asked).toEqual([0n, 5n]);
    ac.abort();
  });

  it('skips a return whose index did not change', async () => {
    const { read, asked } = scripted([
      { index: 5n, value: 'a' },
      { index: 5n, value: 'a' },
      { index: 6n, value: 'b' },
    ]);
    const ac = new AbortController();
    const got = await collect(blockingQuery(read, { signal: ac.signal, minRoundMs: 0 }), 2);
    expect(got.map((r) => r.value)).toEqual(['a', 'b']);
    expect(asked).toEqual([0n, 5n, 5n]);
    ac.abort();
  });

  it('resets to 0 when the index goes backwards, and delivers the new result', async () => {
    const { read, asked } = scripted([
      { index: 10n, value: 'a' },
      { index: 4n, value: 'b' },
      { index: 8n, value: 'c' },
    ]);
    const ac = new AbortController();
    const got = await collect(blockingQuery(read, { signal: ac.signal }), 3);
    expect(got.map((r) => r.value)).toEqual(['a', 'b', 'c']);
    // after the backwards step the next read is a fresh non-blocking one (index 0)
    expect(asked).toEqual([0n, 10n, 0n]);
    ac.abort();
  });

  it('treats an index of 0 as 1 so it never spins on index 0', async () => {
    const { read, asked } = scripted([
      { index: 0n, value: 'a' },
      { index: 2n, value: 'b' },
    ]);
    const ac = new AbortController();
    await collect(blockingQuery(read, { signal: ac.signal }), 2);
    expect(asked).toEqual([0n, 1n]);
    ac.abort();
  });

  it('skips equal values when asked to', async () => {
    const { read } = scripted([
      { index: 1n, value: 'a' },
      { index: 2n, value: 'a' },
      { index: 3n, value: 'b' },
    ]);
    const ac = new AbortController();
    const got = await collect(blockingQuery(read, { signal: ac.signal, equals: (x, y) => x === y }), 2);
    expect(got.map((r) => [r.value, r.index])).toEqual([
      ['a', 1n],
      ['b', 3n],
    ]);
    ac.abort();
  });

  it('reports errors, backs off and carries on', async () => {
    const { read } = scripted([new Error('boom 1'), new Error('boom 2'), { index: 3n, value: 'ok' }]);
    const ac = new AbortController();
    const errors: Array<[string, number]> = [];
    const got = await collect(
      blockingQuery(read, {
        signal: ac.signal,
        errorBackoff: { minMs: 1, maxMs: 2 },
        onError: (err, n) => errors.push([(err as Error).message, n]),
      }),
      1,
    );
    expect(got[0]!.value).toBe('ok');
    expect(errors).toEqual([
      ['boom 1', 1],
      ['boom 2', 2],
    ]);
    ac.abort();
  });

  it('probes without blocking after an error, and skips an unchanged result', async () => {
    const { read, asked } = scripted([
      { index: 5n, value: 'a' },
      new Error('connection refused'),
      { index: 5n, value: 'a' },
      { index: 9n, value: 'b' },
    ]);
    const ac = new AbortController();
    const got = await collect(blockingQuery(read, { signal: ac.signal, errorBackoff: { minMs: 1, maxMs: 2 } }), 2);
    expect(got.map((r) => r.value)).toEqual(['a', 'b']);
    expect(asked).toEqual([0n, 5n, 0n, 5n]);
    ac.abort();
  });

  it('notices a server that came back with a lower index right after an error', async () => {
    const { read, asked } = scripted([{ index: 50n, value: 'a' }, new Error('restarting'), { index: 3n, value: 'fresh' }]);
    const ac = new AbortController();
    const got = await collect(blockingQuery(read, { signal: ac.signal, errorBackoff: { minMs: 1, maxMs: 2 } }), 2);
    expect(got.map((r) => r.value)).toEqual(['a', 'fresh']);
    expect(asked).toEqual([0n, 50n, 0n]);
    ac.abort();
  });

  it('throws fatal errors instead of retrying them', async () => {
    const { read } = scripted([new Error('forbidden')]);
    const ac = new AbortController();
    await expect(collect(blockingQuery(read, { signal: ac.signal, isFatal: () => true }), 1)).rejects.toThrow('forbidden');
  });

  it('stops at once when aborted mid-read, cancelling the read', async () => {
    const { read, asked } = scripted([{ index: 1n, value: 'a' }]);
    const ac = new AbortController();
    const gen = blockingQuery(read, { signal: ac.signal });
    expect((await gen.next()).value?.value).toBe('a');
    const pending = gen.next();
    await new Promise((r) => setImmediate(r));
    expect(asked).toEqual([0n, 1n]); // the blocking read is in flight
    ac.abort();
    expect(await pending).toEqual({ done: true, value: undefined });
  });

  it('spaces out rounds that return early with an unchanged index', async () => {
    let t = 0;
    const { read, asked } = scripted([
      { index: 1n, value: 'a' },
      { index: 1n, value: 'a' },
      { index: 1n, value: 'a' },
      { index: 2n, value: 'b' },
    ]);
    const ac = new AbortController();
    const delays: number[] = [];
    const started = Date.now();
    const got = await collect(
      blockingQuery(read, { signal: ac.signal, minRoundMs: 20, now: () => t, random: () => 0.999 }),
      2,
    );
    delays.push(Date.now() - started);
    expect(got.map((r) => r.value)).toEqual(['a', 'b']);
    expect(asked).toEqual([0n, 1n, 1n, 1n]);
    // two spins were paused (about 20ms and 40ms); the clock is frozen, so both counted as early
    expect(delays[0]).toBeGreaterThanOrEqual(30);
    t = 0;
    ac.abort();
  });
});
