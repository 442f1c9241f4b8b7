export * from './control-plane/binaries.js';
