export * from './errors.js';
export {
  Coordinator,
  COORDINATOR_DEFAULTS,
  optionsFromEnv,
  type CoordinatorOptions,
  type Closeable,
} from './coordinator.js';
export {
  Session,
  SESSION_DEFAULTS,
  resolveSessionOptions,
  type SessionOptions,
  type SessionState,
  type SessionEvents,
} from './session/session.js';
export type { Logger } from './internal/logger.js';
export { parseGoDurationNs, formatDurationMs } from './internal/duration.js';
export { blockingQuery, type BlockingQueryOptions, type BlockingResult, type BlockingRead } from './loop/blocking-query.js';
// The typed Consul HTTP API (`coord.api`) and its shapes.
export type * from './transport/index.js';
export type { BackoffPolicy } from './loop/backoff.js';
export type { BlockingReadArgs } from './loop/blocking-query.js';
export type { LockValue } from './recipes/hold/keys.js';
export type { ContenderEvents, ContenderConfig, HoldDriver, AcquireAttempt, Grant, HoldHandle } from './recipes/hold/contender.js';
export type { HolderOptions, ResolvedHolderOptions } from './recipes/hold/options.js';
export type { ResolvedLockOptions } from './recipes/lock/lock.js';
export type { ResolvedSemaphoreOptions } from './recipes/semaphore/semaphore.js';
export type { ResolvedElectionOptions } from './recipes/election/election.js';
export type { ResolvedSessionOptions } from './session/session.js';
export {
  ConfigWatcher,
  ConfigSnapshot,
  CONFIG_WATCHER_DEFAULTS,
  type ConfigWatcherOptions,
  type ConfigWatcherEvents,
  type ConfigChanges,
  type DecodeOption,
  type Decoder,
} from './recipes/config/config-watcher.js';
export {
  ServiceRegistration,
  SERVICE_DEFAULTS,
  registerService,
  type RegisterServiceOptions,
  type ServiceCheckOptions,
  type RegistrationState,
  type ServiceRegistrationEvents,
} from './recipes/service/service.js';
export {
  ServiceWatcher,
  DISCOVERY_DEFAULTS,
  resolve,
  type ServiceWatcherOptions,
  type ResolveOptions,
  type ServiceInstance,
  type HealthStatus,
  type ServiceWatcherEvents,
  FAILOVER_DEFAULTS,
  type FailoverOptions,
  type QueryTarget,
  type DatacenterMove,
} from './recipes/discovery/discovery.js';
export {
  Events,
  EventWatcher,
  EVENTS_DEFAULTS,
  type UserEvent,
  type EventPayload,
  type FireEventOptions,
  type EventWatchOptions,
  type EventWatcherEvents,
} from './recipes/events/events.js';
export type { WatcherState, WatcherEvents, WatcherOptions, ReadyOptions } from './recipes/watch/watcher.js';
export {
  Lock,
  LOCK_DEFAULTS,
  LOCK_FLAG_VALUE,
  resolveLockOptions,
  type LockOptions,
  type LockHandle,
  type LockState,
  type LockEvents,
  type AcquireOptions,
} from './recipes/lock/lock.js';
export {
  Semaphore,
  SEMAPHORE_DEFAULTS,
  SEMAPHORE_FLAG_VALUE,
  resolveSemaphoreOptions,
  type SemaphoreOptions,
  type Permit,
  type SemaphoreState,
  type SemaphoreEvents,
} from './recipes/semaphore/semaphore.js';
export { withLock, withSemaphore, type HeldContext, type WithLockOptions, type WithSemaphoreOptions } from './recipes/lock/with-lock.js';
export {
  LeaderElection,
  ELECTION_DEFAULTS,
  resolveElectionOptions,
  type ElectionOptions,
  type ElectionEvents,
  type CampaignOptions,
  type LeaderInfo,
  type LeaderTerm,
  type Deposition,
  type DeposedReason,
  type ElectionState,
  type LeaderDecodeOption,
  type ShutdownOptions,
} from './recipes/election/election.js';
export {
  Queue,
  QUEUE_DEFAULTS,
  type QueueOptions,
  type QueueState,
  type QueueEvents,
  type QueueMessage,
  type MessageState,
  type DeadLetter,
  type PutOptions,
  type NackOptions,
  type ConsumeOptions,
} from './recipes/queue/queue.js';
export type { WaitOptions } from './internal/wait.js';
export {
  Counter,
  COUNTER_DEFAULTS,
  decodeCounter,
  type CounterOptions,
  type CounterCallOptions,
  type CounterState,
  type CounterEvents,
} from './recipes/counter/counter.js';
export { Barrier, BARRIER_DEFAULTS, type BarrierOptions, type BarrierState, type BarrierEvents } from './recipes/barrier/barrier.js';
export {
  DoubleBarrier,
  DOUBLE_BARRIER_DEFAULTS,
  type DoubleBarrierOptions,
  type DoubleBarrierState,
  type DoubleBarrierEvents,
} from './recipes/barrier/double-barrier.js';
export {
  ReadWriteLock,
  ReadWriteHold,
  RWLOCK_DEFAULTS,
  RWLOCK_FLAG_VALUE,
  type ReadWriteLockOptions,
  type ReadWriteHandle,
  type ReadWriteLockState,
  type ReadWriteLockEvents,
  type RwMode,
} from './recipes/rwlock/rwlock.js';
// Named by public signatures and doc links (typedoc refuses undocumented references).
export { defaultHolderChecks } from './recipes/hold/options.js';
export type { KeyedRecipeState } from './recipes/keyed-recipe.js';
