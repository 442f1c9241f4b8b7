package dev.lagscale.bench;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;

/**
 * A message of validation.requests (packages/validator/src/jobs/envelope.ts): key
 * `<job id>:<record number>`, the record's JSON as the value, and the job headers. A message that
 * does not follow the format is a dead letter with the worker's code.
 */
record RequestEnvelope(String jobId, long recordNumber, String ruleSet, Long ruleSetVersion, byte[] value, DeadLetterReason failure) {
  static final String JOB = "lagscale-job";
  static final String RECORD = "lagscale-record";
  static final String RULE_SET = "lagscale-ruleset";
  static final String RULE_SET_VERSION = "lagscale-ruleset-version";
  static final String FORMAT = "lagscale-format";

  private static final Pattern JOB_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");
  private static final Pattern DECIMAL = Pattern.compile("[1-9][0-9]{0,15}");
  private static final long MAX_SAFE_INTEGER = (1L << 53) - 1;
  private static final int MAX_RULE_SET_NAME_LENGTH = 200;

  boolean ok() {
    return failure == null;
  }

  static RequestEnvelope decode(ConsumerRecord<byte[], byte[]> message) {
    if (message.value() == null) return failed(null, 0, "missing_value", "the message has no value (a tombstone?): the value must be the record as JSON");
    Text job = header(message, JOB, true);
    if (job.failure != null) return failed(null, 0, job.failure);
    if (!JOB_ID.matcher(job.text).matches())
      return failed(null, 0, "invalid_header", "header " + JOB + " is " + quote(job.text) + ": a job id is 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit");
    String jobId = job.text;
    Text record = header(message, RECORD, true);
    if (record.failure != null) return failed(jobId, 0, record.failure);
    long recordNumber = decimal(record.text);
    if (recordNumber < 0) return failed(jobId, 0, "invalid_header", "header " + RECORD + " is " + quote(record.text) + ": it must be the record number, a decimal integer from 1");
    Text ruleSet = header(message, RULE_SET, true);
    if (ruleSet.failure != null) return failed(jobId, recordNumber, ruleSet.failure);
    if (ruleSet.text.isEmpty() || ruleSet.text.length() > MAX_RULE_SET_NAME_LENGTH)
      return failed(jobId, recordNumber, "invalid_header", "header " + RULE_SET + " is " + quote(ruleSet.text) + ": it must be a rule set name of 1 to 200 characters");
    Text version = header(message, RULE_SET_VERSION, false);
    if (version.failure != null) return failed(jobId, recordNumber, version.failure);
    Long ruleSetVersion = null;
    if (version.text != null) {
      ruleSetVersion = decimal(version.text);
      if (ruleSetVersion < 0) return failed(jobId, recordNumber, "invalid_header", "header " + RULE_SET_VERSION + " is " + quote(version.text) + ": it must be a version, a decimal integer from 1");
    }
    Text format = header(message, FORMAT, true);
    if (format.failure != null) return failed(jobId, recordNumber, format.failure);
    if (!format.text.equals("json"))
      return failed(jobId, recordNumber, "unsupported_format", "header " + FORMAT + " is " + quote(format.text) + ": the only format is \"json\" (the value is the record's JSON)");
    String expected = jobId + ":" + recordNumber;
    if (message.key() == null || message.key().length == 0)
      return failed(jobId, recordNumber, "missing_key", "the message has no key: it must be \"<job id>:<record number>\", here \"" + expected + "\"");
    String key = utf8(message.key());
    int separator = key == null ? -1 : key.indexOf(':');
    if (separator < 0 || !JOB_ID.matcher(key.substring(0, separator)).matches() || decimal(key.substring(separator + 1)) < 0)
      return failed(jobId, recordNumber, "invalid_key", "the key is " + (key == null ? "not UTF-8" : quote(key)) + ": it must be \"<job id>:<record number>\", here \"" + expected + "\"");
    if (!key.equals(expected)) return failed(jobId, recordNumber, "key_mismatch", "the key " + quote(key) + " does not match the headers: it must be \"" + expected + "\"");
    return new RequestEnvelope(jobId, recordNumber, ruleSet.text, ruleSetVersion, message.value(), null);
  }

  private static RequestEnvelope failed(String jobId, long recordNumber, String code, String reason) {
    return failed(jobId, recordNumber, new DeadLetterReason(code, reason));
  }

  private static RequestEnvelope failed(String jobId, long recordNumber, DeadLetterReason failure) {
    return new RequestEnvelope(jobId, recordNumber, null, null, null, failure);
  }

  /** A header's text (null when it is absent and optional), or why it cannot be read. */
  private record Text(String text, DeadLetterReason failure) {}

  private static Text header(ConsumerRecord<byte[], byte[]> message, String name, boolean required) {
    Header found = null;
    int count = 0;
    for (Header header : message.headers().headers(name)) {
      found = header;
      count++;
    }
    if (count == 0) return required ? new Text(null, new DeadLetterReason("missing_header", "header " + name + " is missing")) : new Text(null, null);
    if (count > 1) return new Text(null, new DeadLetterReason("duplicate_header", "header " + name + " appears " + count + " times: send it once"));
    if (found.value() == null) return new Text(null, new DeadLetterReason("invalid_header", "header " + name + " has no value"));
    String text = utf8(found.value());
    if (text == null) return new Text(null, new DeadLetterReason("invalid_header", "header " + name + " is not valid UTF-8"));
    return new Text(text, null);
  }

  /** A decimal integer from 1 (no sign, no leading zero, at most 2^53 - 1), or -1. */
  private static long decimal(String text) {
    if (!DECIMAL.matcher(text).matches()) return -1;
    long value = Long.parseLong(text);
    return value <= MAX_SAFE_INTEGER ? value : -1;
  }

  private static String utf8(byte[] bytes) {
    // Keys and headers are short and nearly always ASCII.
    boolean ascii = true;
    for (byte b : bytes) ascii &= b >= 0;
    if (ascii) return new String(bytes, StandardCharsets.US_ASCII);
    try {
      return StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(bytes))
          .toString();
    } catch (CharacterCodingException e) {
      return null;
    }
  }

  /** A header or key in a reason: JSON-quoted, cut at 80 characters. */
  private static String quote(String text) {
    String shown = text.length() > 80 ? text.substring(0, 80) + "…" : text;
    StringBuilder quoted = new StringBuilder("\"");
    for (char c : shown.toCharArray()) {
      if (c == '"' || c == '\\') quoted.append('\\').append(c);
      else if (c < 0x20) quoted.append(String.format("\\u%04x", (int) c));
      else quoted.append(c);
    }
    return quoted.append('"').toString();
  }
}
