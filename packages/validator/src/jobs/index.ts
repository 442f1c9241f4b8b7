export * from './envelope.js';
export * from './parsers.js';
