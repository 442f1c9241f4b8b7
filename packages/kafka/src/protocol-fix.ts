import { Reader } from '@platformatic/kafka';

/**
 * `@platformatic/kafka` 1.x reads the tagged fields of flexible API versions wrongly: it takes the
 * number of fields, read as a signed zig-zag varint, for a byte count. Brokers send tagged fields
 * in Produce responses (v10+: `CurrentLeader` in a partition's answer, `NodeEndpoints` after it)
 * exactly when a partition's leader is not ready or has moved, so every produce during a leader
 * change failed with `OutOfBoundsError` instead of a retriable NOT_LEADER_OR_FOLLOWER, and no
 * retry could succeed until the leaders settled. (Version 2 of the client, which may read them
 * right, needs Node 22.)
 *
 * Installed once, for the whole process, when this package is loaded: tagged fields are a
 * count (unsigned varint), then per field its tag and size (unsigned varints) and `size` bytes,
 * all skipped (no API this project uses needs their values).
 */
const INSTALLED = Symbol.for('lagscale.kafka.taggedFieldsFix');

interface PatchableReader {
  readUnsignedVarInt(): number;
  skip(length: number): unknown;
  readTaggedFields(): void;
}

/** The client's own reading, kept for the test that shows what it got wrong. */
export const clientReadTaggedFields: (this: unknown) => void = (Reader.prototype as unknown as PatchableReader).readTaggedFields;

export function installTaggedFieldsFix(): void {
  const prototype = Reader.prototype as unknown as PatchableReader & { [INSTALLED]?: true };
  if (prototype[INSTALLED] === true) return;
  prototype.readTaggedFields = function readTaggedFields(this: PatchableReader): void {
    const fields = this.readUnsignedVarInt();
    for (let i = 0; i < fields; i++) {
      this.readUnsignedVarInt();
      this.skip(this.readUnsignedVarInt());
    }
  };
  prototype[INSTALLED] = true;
}

installTaggedFieldsFix();

/**
 * Retries of the project's producers (uploads, DLQ replays, results, dead letters): enough to
 * ride out a partition leader election (NOT_LEADER_OR_FOLLOWER until the new leader is known;
 * seconds, up to about 15 on a busy single broker creating many partitions), not so many that a
 * cluster that is really gone keeps a request waiting for long: 40 tries 500 ms apart.
 */
export const PRODUCER_RETRIES = { retries: 40, retryDelay: 500 } as const;
