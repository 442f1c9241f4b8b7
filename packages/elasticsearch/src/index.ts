export {
  checkSupportedVersion,
  DEFAULT_ELASTICSEARCH_VERSION,
  type ElasticsearchDistribution,
  findElasticsearchJava,
  type ResolveElasticsearchOptions,
  resolveElasticsearch,
  TESTED_ELASTICSEARCH_VERSIONS,
} from './artifacts.js';
export { type ElasticsearchLaunchOptions, type ElasticsearchNode, startElasticsearchNode } from './node.js';
export { SERVER_READY_MARKER, SERVER_SHUTDOWN_MARKER, type ServerArgs, serializeServerArgs } from './server-args.js';
export { javaNeededFor } from './stand-ins.js';
