package dev.lagscale.bench;

import java.util.ArrayList;
import java.util.List;

/** What validating one record gathers: its violations (the first 100 kept, like the rule engine's default), how many are errors. */
final class RecordRun {
  static final int MAX_VIOLATIONS = 100;

  /** Claims a `unique` rule's value for a record of a job; true when another record of the job holds it. */
  interface UniqueClaims {
    boolean seen(String jobId, String ruleId, String key, long recordNumber);
  }

  final String jobId;
  final long recordNumber;
  /** Epoch ms for now(), the same for the whole batch. */
  final double now;
  final UniqueClaims claims;
  final List<Violation> violations = new ArrayList<>(0);
  int errorCount;
  boolean truncated;

  RecordRun(String jobId, long recordNumber, double now, UniqueClaims claims) {
    this.jobId = jobId;
    this.recordNumber = recordNumber;
    this.now = now;
    this.claims = claims;
  }

  void report(String ruleId, String severity, String path, String message) {
    if (severity.equals("error")) errorCount++;
    if (violations.size() >= MAX_VIOLATIONS) {
      truncated = true;
      return;
    }
    violations.add(new Violation(ruleId, severity, path, message));
  }

  boolean valid() {
    return errorCount == 0;
  }
}
