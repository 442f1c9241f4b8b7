export * from './demo-consumer.js';
export * from './targets/local-pool.js';
export * from './targets/target.js';
