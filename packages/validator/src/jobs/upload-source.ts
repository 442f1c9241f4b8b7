import { UploadFormatError } from './upload-error.js';

/** An upload as it arrives: a Node Readable (not in object mode), or any (async) iterable of byte or text chunks. */
export type UploadSource = AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>;

const BOM = [0xef, 0xbb, 0xbf] as const;

/**
 * The chunks of an upload as Buffers, without the UTF-8 byte order mark (which may arrive split
 * over chunks). `bomLength` says how many bytes were dropped, so that offsets can count them.
 * A UTF-16 or UTF-32 byte order mark is refused: the parsers read UTF-8 only.
 */
export class UploadBytes implements AsyncIterable<Buffer> {
  bomLength = 0;

  constructor(private readonly source: UploadSource) {}

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    // Bytes held until the first three are known; then undefined.
    let head: Buffer | undefined = Buffer.alloc(0);
    for await (const piece of this.source) {
      const chunk = toBuffer(piece);
      if (head === undefined) {
        if (chunk.length > 0) yield chunk;
        continue;
      }
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      if (head.length < BOM.length) continue;
      const rest = this.#afterBom(head);
      head = undefined;
      if (rest.length > 0) yield rest;
    }
    if (head !== undefined && head.length > 0) {
      const rest = this.#afterBom(head);
      if (rest.length > 0) yield rest;
    }
  }

  #afterBom(head: Buffer): Buffer {
    if ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff) || (head[0] === 0 && head[1] === 0 && head[2] === 0xfe)) {
      throw new UploadFormatError(
        'unsupported_encoding',
        'the upload starts with a UTF-16 or UTF-32 byte order mark; only UTF-8 is read: save or export the file as UTF-8 and upload it again',
        0,
        1,
      );
    }
    if (head[0] === BOM[0] && head[1] === BOM[1] && head[2] === BOM[2]) {
      this.bomLength = BOM.length;
      return head.subarray(BOM.length);
    }
    return head;
  }
}

function toBuffer(piece: unknown): Buffer {
  if (Buffer.isBuffer(piece)) return piece;
  if (piece instanceof Uint8Array) return Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
  if (typeof piece === 'string') return Buffer.from(piece, 'utf8');
  throw new TypeError(`an upload chunk must be bytes or text, got ${piece === null ? 'null' : typeof piece} (is the stream in object mode?)`);
}
