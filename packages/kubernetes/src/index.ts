export * from './control-plane/binaries.js';
export type { ControlPlaneCertificates, KeyPair } from './control-plane/certificates.js';
export * from './control-plane/kubeconfig.js';
export * from './control-plane/launcher.js';
export type { SupervisedProcess } from './control-plane/processes.js';
