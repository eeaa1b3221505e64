/**
 * Fault proxy: a loopback TCP proxy that sits between a client and a Consul server (the dev
 * server or a real agent) and injects network faults on demand, in the spirit of the proxy
 * Consul's own `api/lock_test.go` routes reads through.
 *
 * It forwards raw bytes, so it works for any protocol (HTTP keep-alive, long polls) and never
 * parses or rewrites a request.
 *
 * Faults:
 * - `partition('hold')` — packets vanish and TCP waits. Bytes stop flowing both ways; they are
 *   buffered, never delivered, and every connection stays open. New connections are accepted
 *   (the kernel completes the handshake) but no upstream connection is made and nothing is
 *   forwarded. Readers stop reading once a direction has buffered {@link HOLD_HIGH_WATER_BYTES},
 *   so a writer eventually blocks, as on a real full TCP window.
 * - `partition('drop')` — every existing connection is reset (the client sees `ECONNRESET`) and
 *   new ones are reset as soon as they are accepted, until `heal()`.
 * - `heal()` — ends either partition. Bytes held by a `'hold'` partition **are delivered**, in
 *   order: a real partition loses packets, but TCP retransmits them once the path is back, so
 *   delivering after heal is the faithful model. Connections accepted during the partition are
 *   connected upstream now.
 * - `delay(ms)` — every chunk received from now on is delivered `ms` later, in each direction,
 *   keeping order (a chunk never overtakes an earlier one, even if the delay is lowered).
 *   `delay(0)` removes the delay. A delay is independent of partitions and survives `heal()`.
 *
 * `close()` is idempotent: it destroys every socket and the listener and clears every timer.
 */
import net from 'node:net';
import { ConfigError } from '../errors.js';
import { describe } from '../internal/duration.js';

/** A direction stops reading from its source once this many bytes wait to be delivered. */
export const HOLD_HIGH_WATER_BYTES = 1024 * 1024;

export type PartitionMode = 'hold' | 'drop';

export interface FaultProxyOptions {
  /** Where to forward: `http://host:port` (a path is ignored). Required. */
  target: string;
  /** Address to listen on. @default '127.0.0.1' */
  host?: string;
  /** Port to listen on; 0 picks a free port. @default 0 */
  port?: number;
}

export interface FaultProxy {
  /** `http://host:port` of the proxy, to use in place of the target's URL. */
  readonly url: string;
  readonly port: number;
  /** Connections currently open on the client side (for tests and debugging). */
  readonly connections: number;
  /**
   * Connections reset by a `'drop'` partition since the proxy started: open ones reset when it
   * began plus new ones reset on accept. A client that retries shows up here once per attempt,
   * so a test can wait for "the client tried again" instead of sleeping.
   */
  readonly dropped: number;
  /** Starts a partition. Throws ConfigError for an unknown mode. @param mode @default 'hold' */
  partition(mode?: PartitionMode): void;
  /** Ends a partition; held bytes are delivered. */
  heal(): void;
  /**
   * Delays every chunk received from now on by `ms` in each direction; 0 removes the delay.
   * Throws ConfigError for a negative or non-finite `ms`.
   */
  delay(ms: number): void;
  /** Destroys every socket and the listener. Idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

type Mode = 'open' | PartitionMode;

/** One item waiting in a direction's queue: bytes, or the source's FIN. */
type Item = { kind: 'data'; chunk: Buffer; dueAt: number } | { kind: 'end'; dueAt: number };

/**
 * One direction of one connection (client → upstream or upstream → client). Items are
 * delivered strictly in arrival order; the head waits for its due time, for the partition to
 * heal, for the destination to exist (upstream not yet connected) and for the destination to
 * drain.
 */
class Direction {
  private readonly queue: Item[] = [];
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private waitingForDrain = false;
  dest: net.Socket | undefined;

  constructor(
    private readonly source: net.Socket,
    private readonly proxy: ProxyState,
  ) {}

  push(item: Item): void {
    this.queue.push(item);
    if (item.kind === 'data') {
      this.queuedBytes += item.chunk.length;
      if (this.queuedBytes > HOLD_HIGH_WATER_BYTES) this.source.pause();
    }
    this.pump();
  }

  pump(): void {
    if (this.timer !== undefined || this.waitingForDrain) return;
    const dest = this.dest;
    while (this.queue.length > 0 && this.proxy.mode === 'open' && dest !== undefined && !dest.destroyed) {
      const head = this.queue[0]!;
      const wait = head.dueAt - Date.now();
      if (wait > 0) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, wait);
        this.timer.unref();
        return;
      }
      this.queue.shift();
      if (head.kind === 'end') {
        dest.end();
        continue;
      }
      this.queuedBytes -= head.chunk.length;
      if (this.queuedBytes <= HOLD_HIGH_WATER_BYTES && this.source.isPaused()) this.source.resume();
      if (!dest.write(head.chunk)) {
        this.waitingForDrain = true;
        dest.once('drain', () => {
          this.waitingForDrain = false;
          this.pump();
        });
        return;
      }
    }
  }

  dispose(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
    this.queuedBytes = 0;
  }
}

/** A client socket, its upstream socket (once connected) and the two directions. */
class Connection {
  private upstream: net.Socket | undefined;
  private readonly up: Direction;
  private down: Direction | undefined;
  private closed = false;

  constructor(
    private readonly client: net.Socket,
    private readonly proxy: ProxyState,
  ) {
    this.up = new Direction(client, proxy);
    client.on('data', (chunk: Buffer) => this.up.push({ kind: 'data', chunk, dueAt: Date.now() + proxy.delayMs }));
    client.on('end', () => this.up.push({ kind: 'end', dueAt: Date.now() + proxy.delayMs }));
    client.on('error', () => this.destroy());
    // Once the client is gone there is nobody left to deliver to.
    client.on('close', () => this.destroy());
  }

  /** Connects upstream (deferred while a 'hold' partition is on: the SYN would not arrive). */
  connectUpstream(): void {
    if (this.upstream !== undefined || this.closed) return;
    const upstream = net.connect({ host: this.proxy.targetHost, port: this.proxy.targetPort, allowHalfOpen: true });
    this.upstream = upstream;
    upstream.setNoDelay(true);
    const down = new Direction(upstream, this.proxy);
    down.dest = this.client;
    this.down = down;
    upstream.on('data', (chunk: Buffer) => down.push({ kind: 'data', chunk, dueAt: Date.now() + this.proxy.delayMs }));
    // The upstream's FIN travels through the queue, so delayed or held bytes still arrive first.
    upstream.on('end', () => down.push({ kind: 'end', dueAt: Date.now() + this.proxy.delayMs }));
    // Refused or reset upstream: the client sees a reset too, as it would talking to the target.
    upstream.on('error', () => this.destroy(true));
    upstream.once('connect', () => {
      this.up.dest = upstream;
      this.up.pump();
    });
  }

  pump(): void {
    this.up.pump();
    this.down?.pump();
  }

  /** Destroys both sockets; `reset` sends an RST to the client instead of a FIN. */
  destroy(reset = false): void {
    if (this.closed) return;
    this.closed = true;
    this.up.dispose();
    this.down?.dispose();
    if (reset && !this.client.destroyed) this.client.resetAndDestroy();
    else this.client.destroy();
    this.upstream?.destroy();
    this.proxy.connections.delete(this);
  }
}

interface ProxyState {
  mode: Mode;
  delayMs: number;
  readonly targetHost: string;
  readonly targetPort: number;
  readonly connections: Set<Connection>;
  dropped: number;
}

/** Parses `http://host:port` (or `host:port`) into the TCP endpoint to forward to. */
function parseTarget(target: string): { host: string; port: number } {
  if (typeof target !== 'string' || target.length === 0) {
    throw new ConfigError(`option "target" must be a URL like 'http://127.0.0.1:8500', got ${describe(target)}`, 'target');
  }
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(target) ? target : `http://${target}`);
  } catch (err) {
    throw new ConfigError(`option "target" must be a URL like 'http://127.0.0.1:8500', got ${describe(target)}`, 'target', { cause: err });
  }
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  // URL keeps IPv6 hosts in brackets; net.connect wants them bare.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return { host, port };
}

/**
 * Starts a fault proxy in front of `target`. Resolves once it listens.
 *
 * @example
 * const proxy = await startFaultProxy({ target: server.url });
 * const coord = new Coordinator({ address: proxy.url });
 * proxy.partition();   // requests hang, as in a network partition
 * proxy.heal();        // they complete
 */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const { host = '127.0.0.1', port = 0 } = options;
  const { host: targetHost, port: targetPort } = parseTarget(options.target);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`option "port" must be an integer between 0 and 65535, got ${describe(port)}`, 'port');
  }

  const state: ProxyState = { mode: 'open', delayMs: 0, targetHost, targetPort, connections: new Set(), dropped: 0 };
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: false }, (client) => {
    if (state.mode === 'drop') {
      state.dropped += 1;
      client.on('error', () => undefined); // the reset we send may race with the client's own
      client.resetAndDestroy();
      return;
    }
    client.setNoDelay(true);
    const conn = new Connection(client, state);
    state.connections.add(conn);
    if (state.mode === 'open') conn.connectUpstream();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as net.AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  let closing: Promise<void> | undefined;

  const proxy: FaultProxy = {
    url: `http://${urlHost}:${address.port}`,
    port: address.port,
    get connections() {
      return state.connections.size;
    },
    get dropped() {
      return state.dropped;
    },
    partition(mode: PartitionMode = 'hold') {
      if (mode !== 'hold' && mode !== 'drop') {
        throw new ConfigError(`partition mode must be 'hold' or 'drop', got ${describe(mode)}`, 'mode');
      }
      state.mode = mode;
      if (mode === 'drop') {
        for (const conn of [...state.connections]) {
          state.dropped += 1;
          conn.destroy(true);
        }
      }
    },
    heal() {
      if (closing !== undefined) return;
      state.mode = 'open';
      for (const conn of state.connections) {
        conn.connectUpstream();
        conn.pump();
      }
    },
    delay(ms: number) {
      if (!Number.isFinite(ms) || ms < 0) {
        throw new ConfigError(`delay must be a non-negative number of milliseconds, got ${describe(ms)}`, 'ms');
      }
      state.delayMs = ms;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        state.mode = 'drop';
        for (const conn of [...state.connections]) conn.destroy();
        server.close(() => resolve());
      });
      return closing;
    },
    [Symbol.asyncDispose]() {
      return proxy.close();
    },
  };
  return proxy;
}
