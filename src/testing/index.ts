export * from './dev-server/index.js';
export * from './fault-proxy.js';
