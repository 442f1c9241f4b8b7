export * from './envelope.js';
export * from './parsers.js';
export * from './submit.js';
