import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { commitOffsets, createTopic, produce, waitFor } from '../../../test-support/kafka.js';
import { call, connectKedaClient } from '../../../test-support/keda-client.js';

const brokers = inject('kafkaBrokers');
const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const run = `cli${Date.now().toString(36)}`;
const topic = `${run}-orders`;
const group = `${run}-billing`;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function lagscale(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [main, ...args], { env: { ...process.env, KAFKA_BROKERS: '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('exit', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
  });
}

beforeAll(async () => {
  await createTopic(brokers, topic, 3);
  await produce(brokers, { topic, perPartition: { 0: 50, 1: 20, 2: 5 } });
  await commitOffsets(brokers, group, topic, { 0: 45, 1: 20, 2: 1 });
});

describe('lagscale lag', () => {
  it('prints a table like kafka-consumer-groups, with time lag and status', async () => {
    const r = await lagscale(['lag', '--brokers', brokers.join(','), '--group', group]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/GROUP\s+TOPIC\s+PARTITION\s+CURRENT-OFFSET\s+LOG-END-OFFSET\s+LAG\s+TIME-LAG/);
    expect(r.stdout).toContain(`Consumer group '${group}' (Empty, 0 members): lag 9`);
    expect(r.stdout).toMatch(new RegExp(`${group}\\s+${topic}\\s+0\\s+45\\s+50\\s+5\\s`));
  });

  it('prints JSON with the same numbers, brokers from KAFKA_BROKERS', async () => {
    const r = await lagscale(['lag', '--group', group, '--json'], { KAFKA_BROKERS: brokers.join(',') });
    expect(r.code).toBe(0);
    const snapshot = JSON.parse(r.stdout) as { groups: { group: string; lag: number; partitions: { lag: number; timeLagMode: string | null }[] }[] };
    expect(snapshot.groups[0]?.lag).toBe(9);
    expect(snapshot.groups[0]?.partitions.map((p) => p.lag)).toEqual([5, 0, 4]);
    // One-shot runs read record timestamps, so the lagging partitions have an exact time lag.
    expect(snapshot.groups[0]?.partitions[0]?.timeLagMode).toBe('exact');
  });

  it('watches: one JSON snapshot per interval, rates from the second on, stops on SIGINT', async () => {
    const child = spawn(process.execPath, [main, 'lag', '-b', brokers.join(','), '-g', group, '--json', '--watch', '300ms']);
    const lines: string[] = [];
    let buffer = '';
    child.stdout.on('data', (d) => {
      buffer += d;
      const parts = buffer.split('\n');
      buffer = parts.pop() ?? '';
      lines.push(...parts);
    });
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (lines.length >= 3) {
          clearInterval(timer);
          resolve();
        }
      }, 50);
    });
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    const third = JSON.parse(lines[2] as string) as { groups: { consumeRate: number | null }[] };
    expect(third.groups[0]?.consumeRate).toBe(0);
  });

  it('says which group does not exist and which do', async () => {
    const r = await lagscale(['lag', '-b', brokers.join(','), '-g', `${run}-nope`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`consumer group '${run}-nope' not found`);
    expect(r.stderr).toContain(group);
  });

  it('fails within a bounded time naming the unreachable broker', async () => {
    const r = await lagscale(['lag', '-b', '127.0.0.1:1', '-g', 'x']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('127.0.0.1:1');
    expect(r.stderr).toMatch(/ECONNREFUSED|unreachable/);
    expect(r.ms).toBeLessThan(10_000);
  });

  it("refuses a worker's --group-protocol other than classic or consumer, and with a share group, with exit code 2", async () => {
    const store = join(mkdtempSync(join(tmpdir(), 'lagscale-cli-')), 'results.db');
    const bogus = await lagscale(['worker', '-b', '127.0.0.1:1', '--store', store, '--group-protocol', 'eager']);
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toContain("--group-protocol: expected classic or consumer, got 'eager'");
    const share = await lagscale(['worker', '-b', '127.0.0.1:1', '--store', store, '--group-protocol', 'consumer', '--share-group', 's']);
    expect(share.code).toBe(2);
    expect(share.stderr).toContain('--group-protocol: applies to a consumer group (--group), not to a share group (--share-group)');
  });

  it('rejects bad flags and missing brokers with exit code 2', async () => {
    const bogus = await lagscale(['lag', '--bogus']);
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toContain("unknown option '--bogus'");
    const none = await lagscale(['lag', '-g', 'x']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no Kafka brokers');
    const badBroker = await lagscale(['lag', '-b', 'localhost', '-g', 'x']);
    expect(badBroker.code).toBe(2);
    expect(badBroker.stderr).toContain('host:port');
    const noGroup = await lagscale(['lag', '-b', brokers.join(',')]);
    expect(noGroup.code).toBe(2);
    expect(noGroup.stderr).toContain('--all-groups');
  });

  it('rejects a bad config file with the path of each mistake', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lagscale-config-'));
    const file = join(dir, 'lagscale.yaml');
    writeFileSync(file, 'kafka:\n  brokers: [nohost]\n  sasl:\n    mechanism: GSSAPI\nlag:\n  intervalSeconds: -1\n  windowSzie: 3\n');
    const r = await lagscale(['lag', '-c', file, '--all-groups']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('kafka.brokers.0');
    expect(r.stderr).toContain('kafka.sasl: must have required property');
    expect(r.stderr).toContain('kafka.sasl.mechanism: must be one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512');
    expect(r.stderr).toContain('lag.intervalSeconds');
    expect(r.stderr).toContain('unknown setting "windowSzie"');
  });
});

describe('lagscale exporter', () => {
  async function startExporter(): Promise<{ child: ChildProcess; url: string }> {
    const child = spawn(process.execPath, [main, 'exporter', '-b', brokers.join(','), '--port', '0', '--interval', '500ms', '-g', group]);
    const url = await new Promise<string>((resolve, reject) => {
      let stderr = '';
      child.stderr?.on('data', (d) => {
        stderr += d;
        const match = /"url":"(http:[^"]+)"/.exec(stderr);
        if (match) resolve(match[1] as string);
      });
      child.on('exit', (code) => reject(new Error(`exporter exited ${code}: ${stderr}`)));
    });
    return { child, url };
  }

  it('serves kafka_exporter-compatible metrics, the JSON API and health, and stops on SIGTERM', async () => {
    const { child, url } = await startExporter();
    try {
      let metrics = '';
      for (let i = 0; i < 40 && !metrics.includes('kafka_consumergroup_lag{'); i++) {
        await new Promise((r) => setTimeout(r, 250));
        metrics = await (await fetch(`${url}/metrics`)).text();
      }
      expect(metrics).toContain(`kafka_consumergroup_lag{consumergroup="${group}",topic="${topic}",partition="0"} 5`);
      expect(metrics).toContain(`kafka_consumergroup_lag_sum{consumergroup="${group}",topic="${topic}"} 9`);
      expect(metrics).toContain(`kafka_consumergroup_current_offset{consumergroup="${group}",topic="${topic}",partition="2"} 1`);
      expect(metrics).toContain(`kafka_consumergroup_members{consumergroup="${group}"} 0`);
      expect(metrics).toContain(`kafka_topic_partition_current_offset{topic="${topic}",partition="0"} 50`);
      expect(metrics).toContain(`kafka_topic_partition_oldest_offset{topic="${topic}",partition="0"} 0`);
      expect(metrics).toContain(`lagscale_consumergroup_status{consumergroup="${group}",status="OK"} 1`);
      expect(metrics).toContain('# TYPE lagscale_collection_duration_seconds histogram');
      expect(metrics).toMatch(/lagscale_collection_requests_total \d+/);

      const groups = (await (await fetch(`${url}/api/v1/groups`)).json()) as { groups: { group: string; lag: number }[] };
      expect(groups.groups).toEqual([expect.objectContaining({ group, lag: 9 })]);
      const detail = await fetch(`${url}/api/v1/groups/${group}`);
      expect(detail.status).toBe(200);
      const body = (await detail.json()) as { group: { partitions: unknown[] }; history: unknown[] };
      expect(body.group.partitions).toHaveLength(3);
      expect(body.history.length).toBeGreaterThan(0);
      const missing = await fetch(`${url}/api/v1/groups/nope`);
      expect(missing.status).toBe(404);
      expect(((await missing.json()) as { message: string }).message).toContain(group);
      const health = await fetch(`${url}/healthz`);
      expect(health.status).toBe(200);
    } finally {
      child.kill('SIGTERM');
    }
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
  });

  it('says the port is taken', async () => {
    const first = await startExporter();
    try {
      const port = new URL(first.url).port;
      const r = await lagscale(['exporter', '-b', brokers.join(','), '--port', port]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`port ${port}`);
      expect(r.stderr).toContain('already in use');
    } finally {
      first.child.kill('SIGTERM');
    }
  });
});

describe('lagscale kube manifests', () => {
  it('prints what deploy/manifests/lagscale-controller.yaml holds (regenerate it with the command when this fails)', () => {
    const printed = execFileSync(process.execPath, [main, 'kube', 'manifests'], { encoding: 'utf8' });
    const committed = readFileSync(fileURLToPath(new URL('../../../deploy/manifests/lagscale-controller.yaml', import.meta.url)), 'utf8');
    expect(printed).toBe(committed);
    expect(printed).toContain('kind: CustomResourceDefinition');
    expect(printed).toContain('x-kubernetes-validations');
  });
});

describe('lagscale keda-scaler', () => {
  it("serves KEDA's external scaler protocol on a real broker's lag, and stops on SIGTERM", async () => {
    const child = spawn(process.execPath, [main, 'keda-scaler', '-b', brokers.join(','), '-p', '0', '-i', '500ms', '-g', group], {
      env: { ...process.env, KAFKA_BROKERS: '' },
    });
    let output = '';
    const address = await new Promise<string>((resolve, reject) => {
      const onData = (chunk: Buffer): void => {
        output += chunk.toString();
        const found = /"event":"keda_scaler_started".*?"address":"([^"]+)"/.exec(output);
        if (found) resolve(found[1] as string);
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code) => reject(new Error(`keda-scaler exited (code ${code}): ${output}`)));
    });
    const client = connectKedaClient(address);
    try {
      const ref = { name: 'billing', namespace: 'shop', scalerMetadata: { consumerGroup: group, topic, lagThreshold: '5' } };
      // Lag 5 + 0 + 4 = 9 on 3 partitions; under the cap of 3 × 5, so the metric is the lag itself.
      const metrics = await waitFor('a metric once the first cycle ran', () =>
        call(client.GetMetrics.bind(client), { scaledObjectRef: ref, metricName: '' }).catch(() => undefined),
      );
      expect(metrics.metricValues[0]?.metricValue).toBe(9);
      expect((await call(client.IsActive.bind(client), ref)).result).toBe(true);
    } finally {
      client.close();
    }
    child.kill('SIGTERM');
    expect(await new Promise<number | null>((resolve) => child.on('exit', resolve))).toBe(0);
  }, 30_000);

  it('refuses TLS flags that do not go together, with exit 2', async () => {
    const r = await lagscale(['keda-scaler', '-b', brokers.join(','), '--server-cert', 'cert.pem']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--server-cert and --server-key go together');
  });
});
