/**
 * Kafka's own share-group tools, run from the broker's jars: the reference for share-group lag
 * (`kafka-share-groups --describe --offsets`), a share consumer that reads and acknowledges
 * (`kafka-console-share-consumer`), and group configs (`kafka-configs --entity-type groups`).
 */
import { type ConsumerGroupsCommandResult, runKafkaTool } from './consumer-groups-command.js';

export const SHARE_GROUP_COMMAND_CLASS = 'org.apache.kafka.tools.consumer.group.ShareGroupCommand';
export const CONSOLE_SHARE_CONSUMER_CLASS = 'org.apache.kafka.tools.consumer.ConsoleShareConsumer';
export const CONFIG_COMMAND_CLASS = 'org.apache.kafka.tools.ConfigCommand';

/** One row of `--describe --offsets`; `-` (unknown) becomes null. */
export interface SharePartitionRow {
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
  readonly startOffset: number | null;
  readonly lag: number | null;
}

function checked(result: ConsumerGroupsCommandResult, what: string): ConsumerGroupsCommandResult {
  if (result.code !== 0) throw new Error(`${what} exited ${result.code}: ${result.stderr.slice(-2000)}`);
  return result;
}

/** `kafka-share-groups --describe --group G --offsets`, parsed (the table's GROUP TOPIC PARTITION START-OFFSET LAG columns). */
export async function describeShareGroupOffsets(libDir: string, bootstrap: string, group: string): Promise<SharePartitionRow[]> {
  const result = checked(
    await runKafkaTool(libDir, SHARE_GROUP_COMMAND_CLASS, ['--bootstrap-server', bootstrap, '--describe', '--group', group, '--offsets']),
    'kafka-share-groups --describe',
  );
  const lines = result.stdout.split('\n').filter((line) => line.trim() !== '');
  const header = lines.findIndex((line) => /^GROUP\s+TOPIC\s+PARTITION\s+START-OFFSET\s+LAG\s*$/.test(line.trim()));
  if (header < 0) throw new Error(`kafka-share-groups printed no offsets table:\n${result.stdout}`);
  const number = (cell: string | undefined) => (cell === undefined || cell === '-' ? null : Number(cell));
  return lines.slice(header + 1).map((line) => {
    const [rowGroup = '', topic = '', partition, startOffset, lag] = line.trim().split(/\s+/);
    return { group: rowGroup, topic, partition: Number(partition), startOffset: number(startOffset), lag: number(lag) };
  });
}

/** `kafka-configs --alter --entity-type groups`: e.g. share.auto.offset.reset=earliest, so a group reads what was produced before it joined. */
export async function setGroupConfig(libDir: string, bootstrap: string, group: string, config: string): Promise<void> {
  checked(
    await runKafkaTool(libDir, CONFIG_COMMAND_CLASS, [
      '--bootstrap-server',
      bootstrap,
      '--alter',
      '--entity-type',
      'groups',
      '--entity-name',
      group,
      '--add-config',
      config,
    ]),
    'kafka-configs --alter',
  );
}

/** `kafka-console-share-consumer`: reads `maxMessages` records of the topic in the share group, acknowledging each as ACCEPT (or RELEASE / REJECT), then leaves. */
export async function consumeShared(
  libDir: string,
  bootstrap: string,
  options: { topic: string; group: string; maxMessages: number; acknowledge?: 'accept' | 'release' | 'reject'; timeoutMs?: number },
): Promise<string[]> {
  const acknowledge = options.acknowledge === undefined || options.acknowledge === 'accept' ? [] : [`--${options.acknowledge}`];
  const result = checked(
    await runKafkaTool(libDir, CONSOLE_SHARE_CONSUMER_CLASS, [
      '--bootstrap-server',
      bootstrap,
      '--topic',
      options.topic,
      '--group',
      options.group,
      '--max-messages',
      String(options.maxMessages),
      '--timeout-ms',
      String(options.timeoutMs ?? 30_000),
      ...acknowledge,
    ]),
    'kafka-console-share-consumer',
  );
  return result.stdout.split('\n').filter((line) => line !== '');
}
