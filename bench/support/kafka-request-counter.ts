import { connect, createServer, type Server, type Socket } from 'node:net';

/** API key, version, correlation id, client id length and up to 300 bytes of client id. */
const HEADER_BYTES = 2 + 2 + 4 + 2 + 300;

/** Kafka request names by API key, for the ones a lag collector or scaler sends. */
const API_NAMES: Readonly<Record<number, string>> = {
  0: 'Produce',
  1: 'Fetch',
  2: 'ListOffsets',
  3: 'Metadata',
  8: 'OffsetCommit',
  9: 'OffsetFetch',
  10: 'FindCoordinator',
  15: 'DescribeGroups',
  16: 'ListGroups',
  18: 'ApiVersions',
  32: 'DescribeConfigs',
  60: 'DescribeCluster',
  71: 'ConsumerGroupDescribe',
};

/**
 * A TCP proxy in front of one broker that counts the Kafka requests going through it, by client
 * id and request name, read from each request's header (size, API key, version, correlation id,
 * client id). The broker advertises the proxy's port, so every client connection after the
 * bootstrap goes through it too: the count is the broker's view, independent of either client.
 */
export class KafkaRequestCounter {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  /** `clientId` → request name → count. */
  readonly counts = new Map<string, Map<string, number>>();

  private constructor(server: Server) {
    this.#server = server;
  }

  /** Listens on `port` (0: any) and forwards each connection to the broker at `target`. */
  static async start(target: { host: string; port: number }, port = 0): Promise<{ counter: KafkaRequestCounter; port: number }> {
    const server = createServer();
    const counter = new KafkaRequestCounter(server);
    server.on('connection', (client) => counter.#forward(client, target));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    return { counter, port: (server.address() as { port: number }).port };
  }

  /** Requests of clients whose id starts with `prefix` since the counts were last taken, by name; the counts start again. */
  take(prefix: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [clientId, byName] of this.counts) {
      if (!clientId.startsWith(prefix)) continue;
      for (const [name, count] of byName) out[name] = (out[name] ?? 0) + count;
      this.counts.delete(clientId);
    }
    return out;
  }

  /** The client ids seen, for attributing requests. */
  clientIds(): string[] {
    return [...this.counts.keys()];
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #forward(client: Socket, target: { host: string; port: number }): void {
    const broker = connect(target.port, target.host);
    this.#sockets.add(client);
    this.#sockets.add(broker);
    // Frames: int32 size, then the request; only its header is read, the rest skipped as it passes.
    let pending = Buffer.alloc(0);
    let skip = 0;
    client.on('data', (chunk: Buffer) => {
      broker.write(chunk);
      let data = chunk;
      if (skip > 0) {
        if (data.length <= skip) {
          skip -= data.length;
          return;
        }
        data = data.subarray(skip);
        skip = 0;
      }
      pending = pending.length === 0 ? data : Buffer.concat([pending, data]);
      while (pending.length >= 4) {
        const size = pending.readInt32BE(0);
        const header = Math.min(size, HEADER_BYTES);
        if (pending.length < 4 + header) break;
        this.#count(pending.subarray(4, 4 + header));
        if (pending.length >= 4 + size) pending = pending.subarray(4 + size);
        else {
          skip = 4 + size - pending.length;
          pending = Buffer.alloc(0);
        }
      }
    });
    broker.on('data', (chunk: Buffer) => client.write(chunk));
    const end = (): void => {
      client.destroy();
      broker.destroy();
      this.#sockets.delete(client);
      this.#sockets.delete(broker);
    };
    client.on('close', end);
    broker.on('close', end);
    client.on('error', end);
    broker.on('error', end);
  }

  #count(header: Buffer): void {
    const apiKey = header.readInt16BE(0);
    const idLength = header.length >= 10 ? header.readInt16BE(8) : -1;
    const clientId = idLength >= 0 && header.length >= 10 + idLength ? header.toString('utf8', 10, 10 + idLength) : '(none)';
    const name = API_NAMES[apiKey] ?? `api-${apiKey}`;
    let byName = this.counts.get(clientId);
    if (byName === undefined) {
      byName = new Map();
      this.counts.set(clientId, byName);
    }
    byName.set(name, (byName.get(name) ?? 0) + 1);
  }
}
