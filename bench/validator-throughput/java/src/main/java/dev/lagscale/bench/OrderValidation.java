package dev.lagscale.bench;

import com.networknt.schema.Error;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SchemaRegistryConfig;
import com.networknt.schema.SpecificationVersion;
import com.networknt.schema.path.PathType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Validates one order as the rule engine does (packages/validator/src/rules/validate.ts): the
 * rule set's JSON Schema first (networknt's json-schema-validator, 2020-12, formats asserted like
 * ajv-formats, every error reported as `schema:<keyword>`), then the 24 rules in order.
 */
final class OrderValidation {
  final String ruleSetName;
  final long ruleSetVersion;
  private final Schema schema;
  private final OrderRules rules;

  private OrderValidation(String ruleSetName, long ruleSetVersion, Schema schema, OrderRules rules) {
    this.ruleSetName = ruleSetName;
    this.ruleSetVersion = ruleSetVersion;
    this.schema = schema;
    this.rules = rules;
  }

  /** Reads the rule set file for its schema and reference lists; its rules must be the ones OrderRules implements. */
  static OrderValidation load(Path ruleSetFile, JsonMapper mapper) throws IOException {
    JsonNode document = mapper.readTree(Files.readAllBytes(ruleSetFile));
    List<String> ids = new ArrayList<>();
    for (JsonNode rule : document.path("rules")) ids.add(rule.path("id").asString());
    if (!ids.equals(OrderRules.IDS))
      throw new IllegalArgumentException(ruleSetFile + ": its rules " + ids + " are not the ones written in OrderRules.java " + OrderRules.IDS + ": update OrderRules to the rule set");
    SchemaRegistryConfig config = SchemaRegistryConfig.builder()
        .pathType(PathType.JSON_POINTER)
        // ajv-formats asserts formats (date-time); 2020-12 only annotates them by default.
        .formatAssertionsEnabled(true)
        // 1.0 is an integer, as in JavaScript.
        .losslessNarrowing(true)
        .build();
    SchemaRegistry registry = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12, builder -> builder.schemaRegistryConfig(config));
    Schema schema = registry.getSchema(document.path("schema"));
    schema.initializeValidators();
    OrderRules rules = new OrderRules(list(document, "countries"), list(document, "currencies"));
    return new OrderValidation(document.path("name").asString(), document.path("version").asLong(), schema, rules);
  }

  private static Set<String> list(JsonNode document, String name) {
    Set<String> values = new HashSet<>();
    for (JsonNode value : document.path("references").path(name)) values.add(value.asString());
    if (values.isEmpty()) throw new IllegalArgumentException("the rule set has no reference list \"" + name + "\"");
    return values;
  }

  RecordRun validate(JsonNode record, RecordRun run) {
    for (Error error : schema.validate(record)) reportSchemaError(error, run);
    rules.apply(record, run);
    return run;
  }

  /** As packages/validator/src/rules/record-schema.ts words ajv's errors: the path names the offending field itself. */
  private static void reportSchemaError(Error error, RecordRun run) {
    String keyword = error.getKeyword();
    String at = error.getInstanceLocation().toString();
    switch (keyword) {
      case "required" -> run.report("schema:required", "error", at + "/" + escape(error.getProperty()), "is required");
      case "additionalProperties", "unevaluatedProperties" -> run.report("schema:" + keyword, "error", at + "/" + escape(error.getProperty()), "is not allowed by the schema");
      case "type" -> run.report("schema:type", "error", at, "must be " + typeList(error.getSchemaNode()));
      case "format" -> run.report("schema:format", "error", at, "must match format \"" + error.getSchemaNode().asString() + "\"");
      default -> run.report("schema:" + keyword, "error", at, error.getMessage());
    }
  }

  private static String typeList(JsonNode types) {
    if (!types.isArray()) return types.asString();
    List<String> names = new ArrayList<>();
    for (JsonNode type : types) names.add(type.asString());
    return String.join(",", names);
  }

  private static String escape(String key) {
    return key.replace("~", "~0").replace("/", "~1");
  }
}
