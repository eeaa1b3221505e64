export { startDevServer } from './server.js';
export type {
  DevServer,
  DevServerCheck,
  DevServerKvEntry,
  DevServerService,
  DevServerSession,
  DevServerState,
  RestartOptions,
  WaitForParkedOptions,
} from './server.js';
export type { DevServerLogger, DevServerOptions } from './options.js';
export type { CheckStatus } from './state/types.js';
export { startDevCluster } from './cluster/cluster.js';
export type { DevCluster, DevClusterAgent, DevClusterOptions } from './cluster/cluster.js';
