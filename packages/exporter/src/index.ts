export * from './auth.js';
export * from './browser-headers.js';
export * from './lag-metrics.js';
export * from './logger.js';
export * from './process-metrics.js';
export * from './prometheus.js';
export * from './server.js';
