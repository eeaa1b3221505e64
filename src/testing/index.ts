export * from './dev-server/index.js';
