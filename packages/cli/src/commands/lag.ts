import type { LagSnapshot } from '@lagscale/core';
import { LagMonitor } from '@lagscale/kafka';
import { type Command, Option } from 'commander';
import { ConfigError, compileGroupPattern, parseSeconds, toConnectionOptions } from '../config.js';
import { formatSnapshot } from '../format.js';
import { addConnectionOptions, type ConnectionFlags, resolveConfig } from '../options.js';

interface LagFlags extends ConnectionFlags {
  group?: string[];
  allGroups?: boolean;
  groupPattern?: string;
  json?: boolean;
  watch?: string | boolean;
  exact?: boolean;
  offsetReset?: 'earliest' | 'latest';
  readCommitted?: string[];
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function registerLagCommand(program: Command): void {
  const command = program
    .command('lag')
    .description(
      'show consumer lag per partition, like kafka-consumer-groups --describe (and share groups like kafka-share-groups --describe), plus time lag, rates and status',
    )
    .option('-g, --group <id>', 'consumer group to show (repeatable)', collect)
    .option('-a, --all-groups', 'show every consumer group and share group')
    .option('--group-pattern <regex>', 'with --all-groups: only groups whose id matches')
    .option('--json', 'print JSON (one snapshot per line with --watch)')
    .option('-w, --watch [interval]', 'refresh every interval (default 5s) until Ctrl-C')
    .option('--no-exact', 'one-shot mode: skip reading record timestamps (no time lag without history)')
    .option('--exact', 'read the timestamp of the record at each committed offset (exact time lag)')
    .addOption(new Option('--offset-reset <policy>', 'lag of partitions without a committed offset').choices(['earliest', 'latest']))
    .option('--read-committed <group>', 'group whose consumers use read_committed: lag to the last stable offset (repeatable)', collect);
  addConnectionOptions(command).action(async (flags: LagFlags) => {
    await runLag(flags);
  });
}

async function runLag(flags: LagFlags): Promise<void> {
  const config = resolveConfig(flags);
  const groups = flags.group ?? (config.lag.groups.length > 0 && !flags.allGroups ? config.lag.groups : []);
  if (groups.length === 0 && !flags.allGroups) {
    throw new ConfigError('say which groups to show: --group <id> (repeatable) or --all-groups');
  }
  if (groups.length > 0 && flags.allGroups) throw new ConfigError('--group and --all-groups exclude each other');
  const watching = flags.watch !== undefined && flags.watch !== false;
  const intervalSeconds = typeof flags.watch === 'string' ? parseSeconds(flags.watch, '--watch') : config.lag.intervalSeconds;
  // One-shot runs have no history to interpolate from, so they read record timestamps unless told not to.
  const exact = flags.exact ?? config.lag.exactTimeLag;
  const monitor = new LagMonitor({
    connection: toConnectionOptions(config),
    groups,
    ...(flags.groupPattern || config.lag.groupPattern ? { groupPattern: compileGroupPattern(flags.groupPattern ?? config.lag.groupPattern) as RegExp } : {}),
    readCommittedGroups: flags.readCommitted ?? config.lag.readCommittedGroups,
    offsetResetPolicy: flags.offsetReset ?? config.lag.offsetResetPolicy,
    exactTimeLag: watching ? flags.exact === true || config.lag.exactTimeLag : exact !== false,
    windowSize: config.lag.windowSize,
    intervalSeconds,
  });
  try {
    if (!watching) {
      const snapshot = await monitor.runCycle();
      await checkGroupsExist(monitor, snapshot, groups);
      print(snapshot, flags.json === true, false);
      return;
    }
    let stop: () => void = () => {};
    const stopped = new Promise<void>((resolve) => {
      stop = resolve;
    });
    process.once('SIGINT', () => stop());
    process.once('SIGTERM', () => stop());
    let first = true;
    monitor.on('snapshot', (snapshot) => {
      print(snapshot, flags.json === true, !first);
      first = false;
    });
    monitor.on('error', (error) => process.stderr.write(`lagscale: collection failed, retrying: ${error.message}\n`));
    monitor.start();
    await stopped;
  } finally {
    await monitor.stop();
  }
}

/** Named groups that neither have members nor committed offsets do not exist: say so, with the ones that do. */
async function checkGroupsExist(monitor: LagMonitor, snapshot: LagSnapshot, groups: readonly string[]): Promise<void> {
  if (groups.length === 0) return;
  const missing = snapshot.groups.filter((g) => groups.includes(g.group) && g.error === undefined && g.members === 0 && g.partitions.length === 0);
  if (missing.length === 0) return;
  const known = await monitor.collector.listGroupIds().catch(() => [] as string[]);
  const names = missing.map((g) => `'${g.group}'`).join(', ');
  throw new Error(
    `consumer group ${names} not found: no members and no committed offsets. ` +
      (known.length > 0 ? `Groups in the cluster: ${known.join(', ')}` : 'The cluster has no consumer groups.'),
  );
}

function print(snapshot: LagSnapshot, json: boolean, refresh: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(snapshot)}\n`);
    return;
  }
  if (refresh && process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H');
  else if (refresh) process.stdout.write('\n');
  process.stdout.write(`${new Date(snapshot.time).toISOString()}\n\n${formatSnapshot(snapshot)}\n`);
}
