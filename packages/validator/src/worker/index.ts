export * from './http.js';
export * from './metrics.js';
export type { GroupProtocol } from './sources.js';
export * from './worker.js';
