export * from './batch-consumer.js';
export * from './collector.js';
export * from './connection.js';
export * from './lag-monitor.js';
export * from './launcher/artifacts.js';
export type { TestCertificates } from './launcher/certificates.js';
export * from './launcher/cluster.js';
export * from './protocol.js';
export * from './topics.js';
