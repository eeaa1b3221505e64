/**
 * recipes-docs/queue.md: put and take, consume with concurrency, nack and dead letters, and an
 * idempotent consumer for at-least-once delivery.
 *
 *   CONSUL_HTTP_ADDR=127.0.0.1:8500 npx tsx examples/docs/queue.ts
 */
import assert from 'node:assert/strict';
import { ClaimLostError, Coordinator } from '../../src/index.js';

const coord = Coordinator.fromEnv();

// --- Put and take -------------------------------------------------------------------------------
const queue = coord.queue<{ photo: string }>('queues/thumbnails');
await queue.put({ photo: 'cat.jpg' });
await queue.put({ photo: 'ceo.jpg' }, { priority: 10 }); // higher priority: delivered first
await queue.put({ photo: 'banner.jpg' }, { delay: '1h' }); // not delivered for an hour

const msg = await queue.take({ timeout: '10s' });
console.log(msg.payload.photo, msg.attempt); // 'ceo.jpg' 1
await makeThumbnail(msg.payload.photo, { signal: msg.signal });
await msg.ack(); // removes it; ClaimLostError if it was handed back meanwhile
assert.equal(msg.payload.photo, 'ceo.jpg');

// --- Consume --------------------------------------------------------------------------------------
const stop = new AbortController();
for await (const job of queue.consume({ concurrency: 4, signal: stop.signal })) {
  try {
    await makeThumbnail(job.payload.photo, { signal: job.signal });
    await job.ack();
  } catch (err) {
    if (err instanceof ClaimLostError) continue; // handed back meanwhile: its new taker settles it
    await job.nack({ delay: '30s' }); // try again in 30 s; after maxAttempts it is a dead letter
  }
  if ((await queue.size()) === 1) stop.abort(); // only the delayed banner is left
}
assert.equal(await queue.size(), 1);

// --- Dead letters ---------------------------------------------------------------------------------
const imports = coord.queue<string>('queues/imports', { maxAttempts: 2 });
await imports.put('corrupt.csv');
for (let i = 0; i < 2; i++) {
  const attempt = await imports.take();
  await attempt.nack(); // the second nack moves it to queues/imports/dead/
}
console.log(await imports.deadLetters()); // [{ id, payload: 'corrupt.csv', attempts: 2, reason, enqueuedAt }]
assert.equal((await imports.deadLetters())[0]?.payload, 'corrupt.csv');

// --- Idempotent work --------------------------------------------------------------------------------
const payments = coord.queue<{ order: string; cents: number }>('queues/payments');
await payments.put({ order: 'o-1001', cents: 4200 });

const payment = await payments.take();
// The side effect is keyed by the order: a second delivery of the same message finds it done.
const charged = await coord.api.kv.put(`payments/charges/${payment.payload.order}`, String(payment.payload.cents), { cas: 0 });
console.log(charged ? 'charged' : 'already charged by an earlier delivery');
await payment.ack();
assert.equal(charged, true);

await coord.close();

/** Stand-in for real work: checks the signal, as long work should between steps. */
async function makeThumbnail(photo: string, { signal }: { signal: AbortSignal }): Promise<void> {
  signal.throwIfAborted();
  await coord.api.kv.put(`thumbnails/${photo}`, 'done', { signal });
}
