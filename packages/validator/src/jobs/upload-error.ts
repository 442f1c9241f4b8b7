/** Why a whole upload cannot be read; a record-level problem is a failed record instead. */
export type UploadFormatErrorCode =
  | 'empty_upload'
  | 'unsupported_encoding'
  | 'unsupported_format'
  | 'not_an_array'
  | 'truncated_array'
  | 'content_after_array'
  | 'invalid_csv_header'
  | 'empty_column_name'
  | 'duplicate_column_name'
  | 'too_many_records';

/**
 * A fatal problem with an upload: nothing after `offset` can be read as records. Records before it
 * have already been produced. The message says where (byte offset in the upload as received, BOM
 * included, and line) and what to do.
 */
export class UploadFormatError extends Error {
  override readonly name = 'UploadFormatError';

  constructor(
    readonly code: UploadFormatErrorCode,
    message: string,
    /** Byte offset in the upload as received. */
    readonly offset: number,
    /** 1-based line of that byte. */
    readonly line: number,
  ) {
    super(message);
  }
}
