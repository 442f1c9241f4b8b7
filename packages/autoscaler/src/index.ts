export * from './autoscaler.js';
export * from './demo-consumer.js';
export * from './http.js';
export * from './policies.js';
export * from './sources/prometheus.js';
export * from './sources/source.js';
export * from './targets/local-pool.js';
export * from './targets/target.js';
