/**
 * The agent's DNS listener: UDP and TCP on one port (Consul's `ports.dns`, 8600 by default for
 * `consul agent`; the dev server picks a free one for 0). TCP messages carry a two-byte length
 * prefix (RFC 1035 4.2.2). Every query passes the agent's pause gate, like HTTP requests.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import { type DnsConfig, type DnsView, answer } from './answer.js';

export interface DnsListener {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface DnsListenOptions {
  readonly host: string;
  /** 0 picks a port free for both UDP and TCP. */
  readonly port: number;
  readonly view: DnsView;
  readonly config: DnsConfig;
  /** Resolves when the agent may answer (its pause gate). */
  gate(): Promise<void>;
}

function handle(opts: DnsListenOptions, message: Buffer, network: 'udp' | 'tcp'): Promise<Buffer | undefined> {
  let query: dnsPacket.DecodedPacket;
  try {
    query = dnsPacket.decode(message);
  } catch {
    return Promise.resolve(undefined);
  }
  return opts.gate().then(() => answer(opts.view, query, network, opts.config));
}

async function bindUdp(host: string, port: number): Promise<dgram.Socket> {
  const socket = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4' });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ port, address: host, exclusive: true }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return socket;
}

async function bindTcp(host: string, port: number, onSocket: (s: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer(onSocket);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/** Starts UDP and TCP listeners on the same port. */
export async function listenDns(opts: DnsListenOptions): Promise<DnsListener> {
  const sockets = new Set<net.Socket>();
  const onTcp = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2) {
        const length = pending.readUInt16BE(0);
        if (pending.length < 2 + length) break;
        const message = pending.subarray(2, 2 + length);
        pending = pending.subarray(2 + length);
        void handle(opts, message, 'tcp').then((reply) => {
          if (!reply || socket.destroyed) return;
          const prefix = Buffer.alloc(2);
          prefix.writeUInt16BE(reply.length);
          socket.write(Buffer.concat([prefix, reply]));
        });
      }
    });
  };
  // With port 0 the UDP port is picked first; TCP may find it taken, then both try again.
  for (let attempt = 0; ; attempt++) {
    const udp = await bindUdp(opts.host, opts.port);
    const port = udp.address().port;
    let tcp: net.Server;
    try {
      tcp = await bindTcp(opts.host, port, onTcp);
    } catch (err) {
      udp.close();
      if (opts.port !== 0 || attempt >= 10 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      continue;
    }
    udp.on('message', (message, rinfo) => {
      void handle(opts, message, 'udp').then((reply) => {
        if (!reply || closed) return;
        try {
          udp.send(reply, rinfo.port, rinfo.address, () => undefined);
        } catch {
          // Closed meanwhile.
        }
      });
    });
    udp.on('error', () => undefined);
    let closed: Promise<void> | undefined;
    return {
      host: opts.host,
      port,
      close: () => {
        closed ??= Promise.all([
          new Promise<void>((resolve) => udp.close(() => resolve())),
          new Promise<void>((resolve) => {
            tcp.close(() => resolve());
            for (const s of sockets) s.destroy();
          }),
        ]).then(() => undefined);
        return closed;
      },
    };
  }
}
