import { STATUS_CODES } from 'node:http';
import fastifySwagger from '@fastify/swagger';
import type { FastifyInstance, FastifySchema } from 'fastify';
import type { RouteScope } from './auth.js';

type JsonObject = { type?: unknown; required?: unknown };

export interface OpenApiOptions {
  readonly title?: string;
  readonly version?: string;
  readonly description?: string;
}

/**
 * The OpenAPI 3 document of every route registered after this, generated from the route schemas
 * and served at `/openapi.json` (no token needed). Routes under /api/ (or that declare a scope)
 * are marked with the bearer token scheme and the scope they need. Await it before adding routes.
 */
export async function registerOpenApi(app: FastifyInstance, options: OpenApiOptions = {}): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: options.title ?? 'lagscale API',
        version: options.version ?? '0.1.0',
        description:
          options.description ??
          'Kafka lag, the autoscaler and the validation service. Errors are `{ error, message, details? }`. ' +
            'With tokens configured, /api routes need `Authorization: Bearer <token>` with the scope each names (read < write < admin).',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'an API token (LAGSCALE_API_TOKENS or api.tokens)' } },
      },
    },
    transform: ({ schema, url, route }) => {
      const declared = (route.config as { scope?: RouteScope } | undefined)?.scope;
      const protectedRoute = declared !== undefined ? declared !== 'none' : url.startsWith('/api/');
      if (!protectedRoute) return { schema, url };
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      const needed = declared ?? (methods.every((m) => m === 'GET' || m === 'HEAD') ? 'read' : 'write');
      const base = (schema ?? {}) as FastifySchema & { description?: string };
      const note = `Needs a token with scope ${needed} (when the server has tokens).`;
      return {
        schema: { ...base, security: [{ bearer: [] }], description: base.description === undefined ? note : `${base.description}\n\n${note}` } as FastifySchema,
        url,
      };
    },
    // The generator marks every body required; an object body with no required property may be left out.
    transformObject: (document) => {
      const openapiObject = 'openapiObject' in document ? document.openapiObject : document.swaggerObject;
      type Operation = {
        requestBody?: { required?: boolean; content?: Record<string, { schema?: JsonObject }> };
        responses?: Record<string, { description?: string }>;
      };
      for (const item of Object.values((openapiObject.paths ?? {}) as Record<string, Record<string, Operation>>))
        for (const operation of Object.values(item)) {
          const schemas = Object.values(operation?.requestBody?.content ?? {}).map((media) => media.schema);
          if (
            operation?.requestBody !== undefined &&
            schemas.length > 0 &&
            schemas.every((schema) => schema?.type === 'object' && schema.required === undefined)
          )
            operation.requestBody.required = false;
          // A response schema without a description gets the generator's placeholder; the status's own name says more.
          for (const [status, response] of Object.entries(operation?.responses ?? {}))
            if (response.description === 'Default Response') response.description = STATUS_CODES[status] ?? 'Response';
        }
      return openapiObject;
    },
  });
  app.get('/openapi.json', { schema: { hide: true }, config: { scope: 'none' } }, async () => app.swagger());
}
