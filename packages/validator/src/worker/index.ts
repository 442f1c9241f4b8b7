export * from './http.js';
export * from './metrics.js';
export * from './worker.js';
