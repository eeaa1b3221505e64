/**
 * The transport's HTTP/1.1 wire: a keep-alive connection pool over `net` (or `tls`) sockets, a
 * request writer and an incremental response parser, no more than Consul's HTTP API needs.
 *
 * Why not node:http's client: a coordination process keeps one blocking read parked per watcher
 * and per held lock, each on its own connection (HTTP/1.1 has one request in flight per
 * connection). node:http keeps a ClientRequest, an IncomingMessage, a pooled llhttp parser and
 * their streams alive for each of them: about 20 KB RSS per parked read on Node 20, against about
 * 8 KB for the socket alone, and most of a round trip's CPU on loopback. Here a parked read costs
 * its socket and one small parser object.
 *
 * What it speaks (RFC 9112, as Go's net/http serves Consul's API): status line and headers, a body
 * framed by `Content-Length`, by `Transfer-Encoding: chunked` (trailers skipped) or by the end of
 * the connection; 1xx interim answers skipped; `Connection: close` and HTTP/1.0 honoured. One
 * request per connection at a time, no pipelining. Idle connections are unref()ed (they never
 * keep a process alive, as node:http's agent does) and dropped when the server closes them; a
 * request on a reused connection that fails before any byte of the answer is reported as such
 * (`reused && !answered`), because such a request was never read by the server.
 */
import net from 'node:net';
import tls from 'node:tls';

/** The answer to one request. Header names are lower-case; a repeated header keeps its first value. */
export interface WireResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** A failure of the connection, with Node's error code (`ECONNREFUSED`, `ECONNRESET`, …). */
export interface WireError extends Error {
  code?: string;
  /** The request went out on a connection that had already served an answer. */
  reused?: boolean;
  /** Some bytes of the answer had arrived. */
  answered?: boolean;
}

export interface WirePoolOptions {
  host: string;
  port: number;
  /** TLS options; absent for plain HTTP. */
  tls?: tls.ConnectionOptions | undefined;
  /** TCP keep-alive probe delay for pooled connections. */
  keepAliveMs: number;
}

/** Longest status line + headers accepted (Go's default MaxHeaderBytes is 1 MB; Consul's are small). */
const MAX_HEAD_BYTES = 256 * 1024;
const CRLFCRLF = Buffer.from('\r\n\r\n');

const Phase = {
  Idle: 0,
  Head: 1,
  Length: 2,
  ChunkSize: 3,
  ChunkData: 4,
  ChunkEnd: 5,
  Trailers: 6,
  UntilClose: 7,
} as const;
type Phase = (typeof Phase)[keyof typeof Phase];

/** One in-flight request: settled once, by the parser or by a connection failure. */
interface Exchange {
  resolve: (r: WireResponse) => void;
  reject: (e: WireError) => void;
}

class Connection {
  readonly socket: net.Socket;
  /** Has served at least one complete answer. */
  reused = false;
  private exchange: Exchange | undefined;
  private phase: Phase = Phase.Idle;
  /** Bytes not consumed yet (a partial head, chunk-size line or trailer). */
  private pending: Buffer | undefined;
  private status = 0;
  private headers: Record<string, string> = {};
  private keepAlive = true;
  private bodyParts: Buffer[] = [];
  private remaining = 0;
  private answered = false;
  private dead = false;

  constructor(
    private readonly pool: WirePool,
    options: WirePoolOptions,
  ) {
    const socket = options.tls
      ? tls.connect({ ...options.tls, host: options.host, port: options.port, ALPNProtocols: ['http/1.1'] })
      : net.connect({ host: options.host, port: options.port });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, options.keepAliveMs);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => this.fail(err.code ?? 'ECONNRESET', err.message, err));
    socket.on('end', () => this.onEnd());
    socket.on('close', () => this.fail('ECONNRESET', 'socket hang up'));
    this.socket = socket;
  }

  get busy(): boolean {
    return this.exchange !== undefined;
  }

  send(head: string, body: Buffer | undefined, exchange: Exchange): void {
    this.exchange = exchange;
    this.phase = Phase.Head;
    this.answered = false;
    this.socket.ref();
    if (body && body.length > 0) {
      this.socket.cork();
      this.socket.write(head, 'latin1');
      this.socket.write(body);
      this.socket.uncork();
    } else {
      this.socket.write(head, 'latin1');
    }
  }

  /** Closes the connection; an in-flight request is failed with `code`. */
  destroy(code = 'ECONNRESET', message = 'socket hang up'): void {
    this.fail(code, message);
  }

  private onData(chunk: Buffer): void {
    if (this.dead) return;
    if (!this.exchange) {
      // Bytes nobody asked for: the connection is out of step; drop it.
      this.fail('EPROTO', 'unexpected data on an idle connection');
      return;
    }
    this.answered = true;
    let data = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    try {
      while (data.length > 0 && this.exchange && !this.dead) data = this.step(data);
    } catch (err) {
      this.fail('EPROTO', err instanceof Error ? err.message : String(err));
    }
  }

  /** Consumes what it can of `data` for the current phase; returns the rest. */
  private step(data: Buffer): Buffer {
    switch (this.phase) {
      case Phase.Head: {
        const end = data.indexOf(CRLFCRLF);
        if (end < 0) {
          if (data.length > MAX_HEAD_BYTES) throw new Error('response head too large');
          this.pending = data;
          return EMPTY;
        }
        this.parseHead(data.toString('latin1', 0, end));
        const rest = data.subarray(end + 4);
        return this.startBody(rest);
      }
      case Phase.Length: {
        const take = Math.min(this.remaining, data.length);
        this.bodyParts.push(take === data.length ? data : data.subarray(0, take));
        this.remaining -= take;
        if (this.remaining === 0) this.complete();
        return data.subarray(take);
      }
      case Phase.ChunkSize: {
        const eol = data.indexOf('\r\n');
        if (eol < 0) {
          if (data.length > 4096) throw new Error('chunk size line too long');
          this.pending = data;
          return EMPTY;
        }
        const line = data.toString('latin1', 0, eol);
        const hex = (line.indexOf(';') >= 0 ? line.slice(0, line.indexOf(';')) : line).trim();
        if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) throw new Error(`bad chunk size ${JSON.stringify(hex.slice(0, 20))}`);
        this.remaining = parseInt(hex, 16);
        this.phase = this.remaining === 0 ? Phase.Trailers : Phase.ChunkData;
        return data.subarray(eol + 2);
      }
      case Phase.ChunkData: {
        const take = Math.min(this.remaining, data.length);
        this.bodyParts.push(take === data.length ? data : data.subarray(0, take));
        this.remaining -= take;
        if (this.remaining === 0) this.phase = Phase.ChunkEnd;
        return data.subarray(take);
      }
      case Phase.ChunkEnd: {
        if (data.length < 2) {
          this.pending = data;
          return EMPTY;
        }
        if (data[0] !== 13 || data[1] !== 10) throw new Error('chunk not followed by CRLF');
        this.phase = Phase.ChunkSize;
        return data.subarray(2);
      }
      case Phase.Trailers: {
        // Trailer fields end with an empty line; without trailers that is the very next CRLF.
        if (data.length >= 2 && data[0] === 13 && data[1] === 10) {
          this.complete();
          return data.subarray(2);
        }
        const end = data.indexOf(CRLFCRLF);
        if (end < 0) {
          if (data.length > MAX_HEAD_BYTES) throw new Error('trailers too large');
          this.pending = data;
          return EMPTY;
        }
        this.complete();
        return data.subarray(end + 4);
      }
      case Phase.UntilClose:
        this.bodyParts.push(data);
        return EMPTY;
      default:
        throw new Error('unexpected data');
    }
  }

  private parseHead(text: string): void {
    const lines = text.split('\r\n');
    const m = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
    if (!m) throw new Error(`bad status line ${JSON.stringify((lines[0] ?? '').slice(0, 40))}`);
    this.status = Number(m[2]);
    const headers: Record<string, string> = {};
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i] as string;
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error('bad header line');
      const name = line.slice(0, colon).trim().toLowerCase();
      if (headers[name] === undefined) headers[name] = line.slice(colon + 1).trim();
    }
    this.headers = headers;
    const connection = (headers.connection ?? '').toLowerCase();
    this.keepAlive = m[1] === '1' ? !/\bclose\b/.test(connection) : /\bkeep-alive\b/.test(connection);
  }

  private startBody(rest: Buffer): Buffer {
    const status = this.status;
    this.bodyParts = [];
    if (status >= 100 && status < 200) {
      // An interim answer (100 Continue, 102): the real one follows.
      this.phase = Phase.Head;
      return rest;
    }
    const te = this.headers['transfer-encoding'];
    const cl = this.headers['content-length'];
    if (status === 204 || status === 304) {
      this.complete();
    } else if (te !== undefined && /\bchunked\s*$/i.test(te)) {
      this.phase = Phase.ChunkSize;
    } else if (cl !== undefined) {
      if (!/^\d+$/.test(cl)) throw new Error('bad content-length');
      this.remaining = Number(cl);
      this.phase = Phase.Length;
      if (this.remaining === 0) this.complete();
    } else {
      // No framing: the body runs to the end of the connection.
      this.keepAlive = false;
      this.phase = Phase.UntilClose;
    }
    return rest;
  }

  private complete(): void {
    const exchange = this.exchange;
    if (!exchange) return;
    const body = this.bodyParts.length === 1 ? (this.bodyParts[0] as Buffer) : Buffer.concat(this.bodyParts);
    const response: WireResponse = { status: this.status, headers: this.headers, body };
    this.exchange = undefined;
    this.bodyParts = [];
    this.headers = {};
    this.phase = Phase.Idle;
    this.reused = true;
    if (this.keepAlive) {
      this.socket.unref();
      this.pool.release(this);
    } else {
      this.dead = true;
      this.pool.forget(this);
      this.socket.destroy();
    }
    exchange.resolve(response);
  }

  private onEnd(): void {
    if (this.phase === Phase.UntilClose && this.exchange) {
      this.keepAlive = false;
      this.complete();
      return;
    }
    this.fail('ECONNRESET', 'socket hang up');
  }

  private fail(code: string, message: string, cause?: unknown): void {
    if (this.dead) return;
    this.dead = true;
    this.pool.forget(this);
    this.socket.destroy();
    const exchange = this.exchange;
    this.exchange = undefined;
    this.pending = undefined;
    this.bodyParts = [];
    if (exchange) {
      const err: WireError = new Error(message, cause === undefined ? undefined : { cause });
      err.code = code;
      err.reused = this.reused;
      err.answered = this.answered;
      exchange.reject(err);
    }
  }
}

const EMPTY = Buffer.alloc(0);

/** Keep-alive connections to one server. */
export class WirePool {
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private destroyed = false;

  constructor(private readonly options: WirePoolOptions) {}

  /**
   * Sends one request (`head`: request line and headers, ending with an empty line) and resolves
   * with the whole answer. `cancel()` closes its connection (the only way to stop an HTTP/1.1
   * request) and rejects the promise with the given code.
   */
  request(head: string, body: Buffer | undefined): { response: Promise<WireResponse>; cancel: (code: string, message: string) => void } {
    let connection: Connection | undefined;
    const response = new Promise<WireResponse>((resolve, reject) => {
      if (this.destroyed) {
        const err: WireError = new Error('connection pool is closed');
        err.code = 'ECONNRESET';
        reject(err);
        return;
      }
      connection = this.idle.pop() ?? this.connect();
      connection.send(head, body, { resolve, reject });
    });
    return { response, cancel: (code, message) => connection?.destroy(code, message) };
  }

  /** Connections open now (idle and busy). */
  get size(): number {
    return this.all.size;
  }

  /** Closes every connection, failing requests in flight. */
  destroy(): void {
    this.destroyed = true;
    this.idle.length = 0;
    for (const c of [...this.all]) c.destroy();
    this.all.clear();
  }

  /** @internal A connection finished an answer and stays open. */
  release(c: Connection): void {
    if (this.destroyed) {
      c.destroy();
      return;
    }
    this.idle.push(c);
  }

  /** @internal A connection closed. */
  forget(c: Connection): void {
    this.all.delete(c);
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
  }

  private connect(): Connection {
    const c = new Connection(this, this.options);
    this.all.add(c);
    return c;
  }
}
