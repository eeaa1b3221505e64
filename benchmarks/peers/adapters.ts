/**
 * The peers behind the benchmarks' small `Mutex` and `Candidate` interfaces, shared by the peer
 * suite and the contender child processes (benchmarks/lib/contender-child.ts).
 */
import { Etcd3 } from 'etcd3';
import { Redis } from 'ioredis';
import { Mutex as RedisMutex, Semaphore as RedisSemaphore } from 'redis-semaphore';
import type { Candidate, Mutex } from '../lib/shapes.js';

export function etcdClient(address: string): Etcd3 {
  return new Etcd3({ hosts: address });
}

export const REDIS_OPTIONS = { lockTimeout: 10_000, acquireTimeout: 600_000 }; // retryInterval: its default 10 ms

/** etcd3's Lock is a try-lock; a waiting mutex in etcd3 is an Election queue (one watcher woken). */
export function etcdQueueMutex(address: string, key: string): Mutex {
  const client = etcdClient(address);
  const election = client.election(key, 10);
  let campaign: ReturnType<typeof election.campaign> | undefined;
  return {
    acquire: async () => {
      campaign = election.campaign('holder');
      campaign.on('error', () => undefined);
      await campaign.wait();
    },
    release: async () => {
      await campaign?.resign();
      campaign = undefined;
    },
    close: async () => client.close(),
  };
}

export function redisMutex(address: string, key: string): Mutex {
  const redis = new Redis(address, { lazyConnect: false });
  const mutex = new RedisMutex(redis, key, REDIS_OPTIONS);
  return { acquire: () => mutex.acquire(), release: () => mutex.release(), close: async () => void (await redis.quit()) };
}

export function etcdLock(address: string, key: string): Mutex {
  const client = etcdClient(address);
  let lock: ReturnType<Etcd3['lock']> | undefined;
  return {
    acquire: async () => {
      lock = client.lock(key).ttl(10);
      await lock.acquire();
    },
    release: async () => {
      await lock?.release();
      lock = undefined;
    },
    close: async () => client.close(),
  };
}

export function etcdCandidate(address: string, key: string, ttl: number): Candidate {
  const client = etcdClient(address);
  const election = client.election(key, ttl);
  let campaign: ReturnType<typeof election.campaign> | undefined;
  let closed = false;
  return {
    campaign: () => {
      const c = election.campaign('candidate');
      c.on('error', () => undefined);
      campaign = c;
      return { blocked: c.getCampaignKey().then(() => undefined), elected: c.wait().then(() => undefined) };
    },
    resign: async () => {
      await campaign?.resign();
      campaign = undefined;
    },
    close: async () => {
      if (!closed) client.close();
      closed = true;
    },
  };
}

export function redisSemaphore(address: string, key: string, limit: number): Mutex {
  const redis = new Redis(address);
  const sem = new RedisSemaphore(redis, key, limit, REDIS_OPTIONS);
  return { acquire: () => sem.acquire(), release: () => sem.release(), close: async () => void (await redis.quit()) };
}
