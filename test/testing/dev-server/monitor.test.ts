/** `/v1/agent/monitor` owns nothing after the client leaves or the server closes. */
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { startDevServer } from '../../../src/testing/index.js';

function open(url: string): Promise<{ res: http.IncomingMessage; ended: Promise<void>; text: () => string }> {
  return new Promise((resolve, reject) => {
    http
      .get(`${url}/v1/agent/monitor?loglevel=info`, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        const ended = new Promise<void>((done) => {
          res.on('end', done);
          res.on('close', done);
        });
        resolve({ res, ended, text: () => text });
      })
      .on('error', reject);
  });
}

describe('agent monitor streams', () => {
  it('end when the server closes, and close() does not wait for them', async () => {
    const server = await startDevServer();
    const m = await open(server.url);
    expect(m.res.statusCode).toBe(200);
    expect(m.res.headers['content-length']).toBeUndefined();
    await fetch(`${server.url}/v1/agent/reload`, { method: 'PUT' });
    await expect.poll(() => m.text()).toContain('Reloading configuration...');
    await server.close();
    await m.ended;
  });

  it('a monitor its client closed does not disturb the others', async () => {
    const server = await startDevServer();
    try {
      const first = await open(server.url);
      first.res.destroy();
      await first.ended;
      const second = await open(server.url);
      await fetch(`${server.url}/v1/agent/reload`, { method: 'PUT' });
      await expect.poll(() => second.text()).toContain('Reloading configuration...');
      expect(first.text()).toBe('');
      second.res.destroy();
    } finally {
      await server.close();
    }
  });
});
