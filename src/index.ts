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
export type { ConsulApi, KVPair, QueryMeta, SessionEntry } from './transport/index.js';
