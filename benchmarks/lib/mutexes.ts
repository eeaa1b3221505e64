/**
 * Mutexes named by a serializable spec, so a child process can build the one a run measures.
 * The peers' clients are loaded only when asked for (their dependencies live in
 * benchmarks/peers/package.json).
 */
import type { LockOptions } from '../../src/index.js';
import { oursMutex, type Mutex } from './shapes.js';

export type MutexSpec =
  | { system: 'consul-recipes'; address: string; key: string; options?: LockOptions; workerSession?: boolean }
  | { system: 'etcd3'; address: string; key: string }
  | { system: 'redis-semaphore'; address: string; key: string };

/** The peers' adapters, by a specifier the library's type-check does not follow (their types live in benchmarks/peers). */
const PEER_ADAPTERS = '../peers/adapters.js';
interface PeerAdapters {
  etcdQueueMutex(address: string, key: string): Mutex;
  redisMutex(address: string, key: string): Mutex;
}
const peers = async (): Promise<PeerAdapters> => (await import(PEER_ADAPTERS)) as PeerAdapters;

export async function makeMutex(spec: MutexSpec): Promise<Mutex> {
  switch (spec.system) {
    case 'consul-recipes':
      return oursMutex(spec.address, spec.key, spec.options, spec.workerSession === true);
    case 'etcd3':
      return (await peers()).etcdQueueMutex(spec.address, spec.key);
    case 'redis-semaphore':
      return (await peers()).redisMutex(spec.address, spec.key);
  }
}
