import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { jdkTool } from '@lagscale/search-node';

/**
 * Three parts of Elasticsearch's distribution are not published to Maven Central. These are
 * small stand-ins for them, compiled once per version with the JDK's javac and cached with the
 * version's jars:
 *
 * - the entitlement agent: the server attaches it to itself at start-up and it only hands the
 *   instrumentation to the server's own entitlement initialisation (named in the agent's argument);
 * - the ANSI console loader: the server asks it for a console and it answers "none", as the real
 *   one does when the output is not a terminal;
 * - the `rest-root` module: `GET /` and `HEAD /` (name, cluster, version, tagline), which the
 *   store reads to tell Elasticsearch from OpenSearch. Its plugin API differs between 8.x and 9.x
 *   (the `getRestHandlers` signature), so it is compiled against the version's own jars.
 */

const AGENT_CLASS = 'dev.lagscale.elasticsearch.agent.EntitlementAgent';
export const REST_ROOT_CLASS = 'dev.lagscale.elasticsearch.restroot.RestRootPlugin';

const AGENT_SOURCE = `package dev.lagscale.elasticsearch.agent;

import java.lang.instrument.Instrumentation;

/** Hands the instrumentation to the class the server names (its EntitlementInitialization). */
public final class EntitlementAgent {
    public static void agentmain(String initializationClass, Instrumentation instrumentation) throws Exception {
        Class.forName(initializationClass).getMethod("initialize", Instrumentation.class).invoke(null, instrumentation);
    }

    public static void premain(String initializationClass, Instrumentation instrumentation) throws Exception {
        agentmain(initializationClass, instrumentation);
    }
}
`;

const AGENT_MANIFEST = [
  'Manifest-Version: 1.0',
  `Agent-Class: ${AGENT_CLASS}`,
  `Premain-Class: ${AGENT_CLASS}`,
  'Can-Retransform-Classes: true',
  'Can-Redefine-Classes: true',
  '',
].join('\n');

const ANSI_CONSOLE_SOURCE = `package org.elasticsearch.io.ansi;

import java.util.function.Supplier;

/** No console: what the distribution's loader answers when the output is not a terminal. */
public final class AnsiConsoleLoader implements Supplier<Object> {
    @Override
    public Object get() {
        return null;
    }
}
`;

/** The parameters of ActionPlugin.getRestHandlers, which changed in 9.0. */
const REST_HANDLER_PARAMETERS: Record<'8' | '9', { imports: string[]; parameters: string }> = {
  '8': {
    imports: [
      'org.elasticsearch.cluster.metadata.IndexNameExpressionResolver',
      'org.elasticsearch.common.io.stream.NamedWriteableRegistry',
      'org.elasticsearch.common.settings.ClusterSettings',
      'org.elasticsearch.common.settings.IndexScopedSettings',
      'org.elasticsearch.common.settings.Settings',
      'org.elasticsearch.common.settings.SettingsFilter',
      'org.elasticsearch.rest.RestController',
    ],
    parameters:
      'Settings settings, NamedWriteableRegistry namedWriteableRegistry, RestController restController, ClusterSettings clusterSettings, ' +
      'IndexScopedSettings indexScopedSettings, SettingsFilter settingsFilter, IndexNameExpressionResolver indexNameExpressionResolver, ' +
      'Supplier<DiscoveryNodes> nodesInCluster, Predicate<NodeFeature> clusterSupportsFeature',
  },
  '9': {
    imports: [],
    parameters: 'RestHandlersServices services, Supplier<DiscoveryNodes> nodesInCluster, Predicate<NodeFeature> clusterSupportsFeature',
  },
};

function restRootSource(major: '8' | '9'): string {
  const api = REST_HANDLER_PARAMETERS[major];
  return `package dev.lagscale.elasticsearch.restroot;

import java.util.Collection;
import java.util.List;
import java.util.function.Predicate;
import java.util.function.Supplier;
import org.elasticsearch.Build;
import org.elasticsearch.client.internal.node.NodeClient;
import org.elasticsearch.cluster.node.DiscoveryNodes;
import org.elasticsearch.cluster.service.ClusterService;
import org.elasticsearch.features.NodeFeature;
import org.elasticsearch.plugins.ActionPlugin;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.rest.BaseRestHandler;
import org.elasticsearch.rest.RestHandler;
import org.elasticsearch.rest.RestRequest;
import org.elasticsearch.rest.RestResponse;
import org.elasticsearch.rest.RestStatus;
${api.imports.map((name) => `import ${name};`).join('\n')}

/** GET / and HEAD /: the same fields the distribution's rest-root module answers. */
public class RestRootPlugin extends Plugin implements ActionPlugin {
    private volatile ClusterService clusterService;

    @Override
    public Collection<?> createComponents(PluginServices services) {
        clusterService = services.clusterService();
        return List.of();
    }

    @Override
    public Collection<RestHandler> getRestHandlers(${api.parameters}) {
        return List.of(new RootHandler());
    }

    private static String quote(String value) {
        StringBuilder out = new StringBuilder("\\"");
        for (char c : String.valueOf(value).toCharArray()) {
            if (c == '"' || c == '\\\\') out.append('\\\\').append(c);
            else if (c < 0x20) out.append(String.format("\\\\u%04x", (int) c));
            else out.append(c);
        }
        return out.append('"').toString();
    }

    private final class RootHandler extends BaseRestHandler {
        @Override
        public String getName() {
            return "lagscale_rest_root_action";
        }

        @Override
        public List<Route> routes() {
            return List.of(new Route(RestRequest.Method.GET, "/"), new Route(RestRequest.Method.HEAD, "/"));
        }

        @Override
        protected RestChannelConsumer prepareRequest(RestRequest request, NodeClient client) {
            Build build = Build.current();
            String body = "{\\"name\\":" + quote(clusterService.localNode().getName())
                + ",\\"cluster_name\\":" + quote(clusterService.getClusterName().value())
                + ",\\"cluster_uuid\\":" + quote(clusterService.state().metadata().clusterUUID())
                + ",\\"version\\":{\\"number\\":" + quote(build.qualifiedVersion())
                + ",\\"build_flavor\\":" + quote(build.flavor())
                + ",\\"build_type\\":" + quote(build.type().displayName())
                + ",\\"build_hash\\":" + quote(build.hash())
                + ",\\"build_date\\":" + quote(build.date())
                + ",\\"build_snapshot\\":" + build.isSnapshot()
                + ",\\"lucene_version\\":" + quote(org.apache.lucene.util.Version.LATEST.toString())
                + ",\\"minimum_wire_compatibility_version\\":" + quote(build.minWireCompatVersion())
                + ",\\"minimum_index_compatibility_version\\":" + quote(build.minIndexCompatVersion())
                + "},\\"tagline\\":\\"You Know, for Search\\"}";
            return channel -> channel.sendResponse(new RestResponse(RestStatus.OK, "application/json; charset=UTF-8", body));
        }
    }
}
`;
}

export interface StandInPaths {
  /** `lib/` of the version (the rest-root stand-in compiles against it). */
  readonly libDir: string;
  readonly agentDir: string;
  readonly ansiConsoleDir: string;
  readonly restRootDir: string;
}

/** The JDK release the stand-ins are compiled for: the oldest Java the version runs on. */
export function javaNeededFor(version: string): number {
  return Number(version.split('.')[0]) >= 9 ? 21 : 17;
}

/**
 * Compiles the three stand-ins with the javac beside `java` (a JDK new enough to read the
 * version's class files) into their places in the cached distribution.
 */
export async function compileStandIns(java: string, version: string, work: string, paths: StandInPaths): Promise<void> {
  const javac = jdkTool(java, 'javac');
  const jar = jdkTool(java, 'jar');
  const run = promisify(execFile);
  const release = String(javaNeededFor(version));
  const major = Number(version.split('.')[0]) >= 9 ? '9' : '8';
  const build = async (name: string, file: string, source: string, classpath: string | null): Promise<string> => {
    const sources = join(work, name, 'src');
    const classes = join(work, name, 'classes');
    await mkdir(join(sources, ...file.split('/').slice(0, -1)), { recursive: true });
    await mkdir(classes, { recursive: true });
    await writeFile(join(sources, file), source);
    try {
      await run(javac, ['--release', release, '-nowarn', ...(classpath === null ? [] : ['-cp', classpath]), '-d', classes, join(sources, file)], {
        maxBuffer: 4 * 1024 * 1024,
      });
    } catch (error) {
      const output = (error as { stderr?: string }).stderr ?? (error as Error).message;
      throw new Error(`compiling lagscale's ${name} stand-in for Elasticsearch ${version} with ${javac} failed:\n${output.trim()}`);
    }
    return classes;
  };
  const agent = await build('entitlement-agent', 'dev/lagscale/elasticsearch/agent/EntitlementAgent.java', AGENT_SOURCE, null);
  await writeFile(join(work, 'agent.mf'), AGENT_MANIFEST);
  await mkdir(paths.agentDir, { recursive: true });
  await run(jar, ['--create', '--file', join(paths.agentDir, 'lagscale-entitlement-agent.jar'), '--manifest', join(work, 'agent.mf'), '-C', agent, '.']);

  const ansiConsole = await build('ansi-console', 'org/elasticsearch/io/ansi/AnsiConsoleLoader.java', ANSI_CONSOLE_SOURCE, null);
  await mkdir(paths.ansiConsoleDir, { recursive: true });
  await run(jar, ['--create', '--file', join(paths.ansiConsoleDir, 'lagscale-ansi-console.jar'), '-C', ansiConsole, '.']);

  const restRoot = await build('rest-root', 'dev/lagscale/elasticsearch/restroot/RestRootPlugin.java', restRootSource(major), `${paths.libDir}/*`);
  await mkdir(paths.restRootDir, { recursive: true });
  await run(jar, ['--create', '--file', join(paths.restRootDir, `lagscale-rest-root-${version}.jar`), '-C', restRoot, '.']);
  await writeFile(
    join(paths.restRootDir, 'plugin-descriptor.properties'),
    [
      `description=GET / for Elasticsearch ${version}, a stand-in by lagscale for the distribution's rest-root module`,
      `version=${version}`,
      'name=rest-root',
      `classname=${REST_ROOT_CLASS}`,
      `java.version=${release}`,
      `elasticsearch.version=${version}`,
      'extended.plugins=',
      'has.native.controller=false',
      '',
    ].join('\n'),
  );
  await rm(work, { recursive: true, force: true });
}
