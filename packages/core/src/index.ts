export * from './lag-evaluator.js';
export * from './observation.js';
export * from './offset-time-table.js';
export * from './rate.js';
export * from './snapshot.js';
export * from './status.js';
