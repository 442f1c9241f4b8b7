package dev.lagscale.bench;

/** One broken rule in one record, as the rule engine reports it: `schema:<keyword>` for the JSON Schema. */
record Violation(String ruleId, String severity, String path, String message) {}
