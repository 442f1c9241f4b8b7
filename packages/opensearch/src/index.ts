export {
  DEFAULT_OPENSEARCH_VERSION,
  defaultCacheDir,
  javaNeededFor,
  OPENSEARCH_MODULES,
  type OpenSearchDistribution,
  type OpenSearchModule,
  type ResolveOptions,
  resolveOpenSearch,
} from './artifacts.js';
export { findJava, type OpenSearchLaunchOptions, type OpenSearchNode, startOpenSearchNode } from './node.js';
