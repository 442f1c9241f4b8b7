package dev.lagscale.bench;

import tools.jackson.core.StreamReadConstraints;
import tools.jackson.core.exc.StreamConstraintsException;
import tools.jackson.core.exc.StreamReadException;
import tools.jackson.core.exc.UnexpectedEndOfInputException;
import tools.jackson.core.json.JsonFactory;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A record's bytes as a JSON tree, or the dead-letter reason the worker would give (its limits:
 * 1 MiB, 64 levels of nesting; codes too_large, empty, invalid_utf8, too_deep, truncated_json,
 * invalid_json).
 */
final class RecordDecoder {
  static final int MAX_BYTES = 1024 * 1024;
  static final int MAX_DEPTH = 64;

  /** The parsed record, or why it is a dead letter. */
  record Decoded(JsonNode value, DeadLetterReason failure) {}

  final JsonMapper mapper =
      JsonMapper.builder(JsonFactory.builder().streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(MAX_DEPTH).build()).build()).build();

  Decoded decode(byte[] bytes) {
    if (bytes.length > MAX_BYTES) return failed("too_large", "record is " + bytes.length + " bytes, over the limit of " + MAX_BYTES);
    try {
      JsonNode value = mapper.readTree(bytes);
      if (value == null || value.isMissingNode()) return failed("empty", "record is empty");
      return new Decoded(value, null);
    } catch (StreamConstraintsException e) {
      return failed("too_deep", "nesting deeper than " + MAX_DEPTH + " levels");
    } catch (UnexpectedEndOfInputException e) {
      int open = e.processor() == null ? 0 : e.processor().streamReadContext().getNestingDepth();
      String pending = open == 0 ? "a value" : open + " unclosed " + (open == 1 ? "bracket" : "brackets");
      return failed("truncated_json", "truncated JSON: input ends with " + pending + " at byte " + bytes.length);
    } catch (StreamReadException e) {
      String what = e.getOriginalMessage().lines().findFirst().orElse("");
      if (what.contains("UTF-8") || what.contains("UTF8")) return failed("invalid_utf8", "invalid UTF-8 at byte " + at(e));
      return failed("invalid_json", "invalid JSON at byte " + at(e) + ": " + what);
    }
  }

  private static long at(StreamReadException e) {
    return e.getLocation() == null ? -1 : e.getLocation().getByteOffset();
  }

  private static Decoded failed(String code, String reason) {
    return new Decoded(null, new DeadLetterReason(code, reason));
  }
}
