// The config file's `store` section: its schema and type, apart from the store code so that
// reading a config does not load the validator (the exporter never opens a store).

/** The `store` section of the config file, as its schema lets it through. */
export interface StoreSection {
  type: 'sqlite' | 'opensearch' | 'elasticsearch';
  path?: string;
  url?: string | string[];
  username?: string;
  password?: string;
  apiKey?: string;
  tls?: { ca?: string; cert?: string; key?: string; insecure?: boolean };
  indexPrefix?: string;
  replicas?: number;
}

export const STORE_SECTION_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  properties: {
    type: { enum: ['sqlite', 'opensearch', 'elasticsearch'] },
    path: { type: 'string', minLength: 1 },
    url: {
      anyOf: [
        { type: 'string', pattern: '^https?://[^\\s/]+(/.*)?$' },
        { type: 'array', minItems: 1, items: { type: 'string', pattern: '^https?://[^\\s/]+(/.*)?$' } },
      ],
    },
    username: { type: 'string', minLength: 1 },
    password: { type: 'string' },
    apiKey: { type: 'string', minLength: 1 },
    tls: {
      type: 'object',
      additionalProperties: false,
      properties: { ca: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' }, insecure: { type: 'boolean' } },
    },
    indexPrefix: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,100}$' },
    replicas: { type: 'integer', minimum: 0, maximum: 10 },
  },
} as const;
