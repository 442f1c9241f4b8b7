/**
 * Since 8.x the Elasticsearch server takes its start-up arguments only from its launcher
 * (`server-cli`, not on Maven Central), as a serialized `ServerArgs` record on stdin; it does not
 * read `elasticsearch.yml` itself. This writes that record, in the wire format of the server's
 * `StreamOutput`, for 8.19 and 9.x:
 *
 *   daemonize (bool), quiet (bool), pidFile (optional string), secrets (the class name, then a
 *   KeyStoreWrapper: format version int32, hasPassword, optional data bytes, entries, closed),
 *   nodeSettings (count, then key and generic string value), configDir, logsDir.
 *
 * The server then keeps reading stdin: {@link SERVER_SHUTDOWN_MARKER} (or end of input) stops it.
 * It writes {@link SERVER_READY_MARKER} on stderr once it serves.
 */

/** The byte the server writes on stderr when it has started (BootstrapInfo.SERVER_READY_MARKER). */
export const SERVER_READY_MARKER = 0x18;
/** The byte on stdin that asks the server to stop gracefully (BootstrapInfo.SERVER_SHUTDOWN_MARKER). */
export const SERVER_SHUTDOWN_MARKER = 0x1b;

const KEYSTORE_CLASS = 'org.elasticsearch.common.settings.KeyStoreWrapper';
/** KeyStoreWrapper.CURRENT_VERSION in 8.19 and 9.x. */
const KEYSTORE_FORMAT_VERSION = 7;
/** StreamOutput.writeGenericValue's type byte for a string. */
const GENERIC_STRING = 0;

export interface ServerArgs {
  /** Node settings, as `elasticsearch.yml` would give them (the server reads nothing else). */
  readonly settings: Readonly<Record<string, string>>;
  readonly configDir: string;
  readonly logsDir: string;
}

class StreamOutput {
  readonly #bytes: number[] = [];

  boolean(value: boolean): this {
    this.#bytes.push(value ? 1 : 0);
    return this;
  }

  int32(value: number): this {
    this.#bytes.push((value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
    return this;
  }

  /** 7 bits a byte, low group first, the high bit set on every byte but the last. */
  vint(value: number): this {
    if (!Number.isInteger(value) || value < 0) throw new RangeError(`vint of ${value}`);
    let rest = value;
    while (rest > 0x7f) {
      this.#bytes.push((rest & 0x7f) | 0x80);
      rest >>>= 7;
    }
    this.#bytes.push(rest);
    return this;
  }

  /** The number of UTF-16 code units, then each unit in 1 to 3 bytes (surrogates one by one). */
  string(value: string): this {
    this.vint(value.length);
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (c <= 0x7f) this.#bytes.push(c);
      else if (c <= 0x7ff) this.#bytes.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
      else this.#bytes.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
    }
    return this;
  }

  bytes(): Uint8Array {
    return Uint8Array.from(this.#bytes);
  }
}

/** The bytes the server reads from stdin before it starts (an empty keystore: no secure settings). */
export function serializeServerArgs(args: ServerArgs): Uint8Array {
  const out = new StreamOutput()
    .boolean(false) // daemonize
    .boolean(false) // quiet: false logs to the console, which the launcher keeps in logs/console.log
    .boolean(false) // no pid file
    .string(KEYSTORE_CLASS)
    .int32(KEYSTORE_FORMAT_VERSION)
    .boolean(false) // no keystore password
    .boolean(false) // no encrypted keystore data
    .vint(0) // no entries
    .boolean(false); // not closed
  const entries = Object.entries(args.settings);
  out.vint(entries.length);
  for (const [key, value] of entries) out.string(key).vint(GENERIC_STRING).string(value);
  return out.string(args.configDir).string(args.logsDir).bytes();
}
