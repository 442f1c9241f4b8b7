package dev.lagscale.bench;

import static dev.lagscale.bench.Expressions.abs;
import static dev.lagscale.bench.Expressions.and;
import static dev.lagscale.bench.Expressions.coalesce;
import static dev.lagscale.bench.Expressions.column;
import static dev.lagscale.bench.Expressions.compare;
import static dev.lagscale.bench.Expressions.date;
import static dev.lagscale.bench.Expressions.days;
import static dev.lagscale.bench.Expressions.equal;
import static dev.lagscale.bench.Expressions.field;
import static dev.lagscale.bench.Expressions.minus;
import static dev.lagscale.bench.Expressions.not;
import static dev.lagscale.bench.Expressions.or;
import static dev.lagscale.bench.Expressions.plus;

import java.math.BigDecimal;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;
import java.util.function.Supplier;
import java.util.regex.Pattern;
import tools.jackson.core.JsonPointer;
import tools.jackson.databind.JsonNode;

/**
 * The 24 rules of packages/validator/examples/orders.ruleset.json (customer-orders v3) written as
 * plain Java, in the rule set's order, with the rule engine's semantics and messages: a missing or
 * null field passes every check but `required`; a field of the wrong type fails with the engine's
 * message; an expression that gives unknown (null) passes, one that fails to evaluate is reported.
 * The reference lists (countries, currencies) are the rule set's data and are read from it.
 */
final class OrderRules {
  static final String ERROR = "error";
  static final String WARNING = "warning";

  /** The rule ids, in order: checked against the rule set file at start, so that a change to it cannot go unnoticed. */
  static final List<String> IDS = List.of(
      "order-id.format",
      "order-id.unique",
      "status.known",
      "channel.known",
      "created-at.not-ancient",
      "created-at.not-future",
      "customer.email.format",
      "customer.name.length",
      "customer.phone.e164",
      "customer.country.known",
      "currency.known",
      "items.count",
      "items.sku.format",
      "items.quantity.range",
      "items.unit-price.range",
      "total.range",
      "total.adds-up",
      "discount.within-subtotal",
      "shipped-at.after-created",
      "cancelled.not-shipped",
      "shipping-address.postal-code.required",
      "shipping-address.postal-code.pt",
      "coupon.format",
      "total.manual-review");

  /** A rule's pattern as the rule set writes it (for messages), and the same pattern for java.util.regex. */
  private record RulePattern(String source, Pattern regex) {
    RulePattern(String source) {
      this(source, Pattern.compile(source));
    }
  }

  private static final RulePattern ORDER_ID_PATTERN = new RulePattern("ORD-[0-9]{4}-[0-9]{6}");
  // RE2's \s is [\t\n\f\r ] (Java's adds \x0B); its case folding is Unicode's.
  private static final RulePattern EMAIL_PATTERN = new RulePattern(
      "[^@\\s]+@[^@\\s]+\\.[a-z]{2,}", Pattern.compile("[^@\\t\\n\\f\\r ]+@[^@\\t\\n\\f\\r ]+\\.[a-z]{2,}", Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE));
  private static final RulePattern E164_PATTERN = new RulePattern("\\+[1-9][0-9]{6,14}");
  private static final RulePattern SKU_PATTERN = new RulePattern("SKU-[0-9]{5}");
  private static final RulePattern PT_POSTAL_CODE_PATTERN = new RulePattern("[0-9]{4}-[0-9]{3}");
  private static final RulePattern COUPON_PATTERN = new RulePattern("[A-Z0-9]{4,16}");

  // The fields the rules read, compiled once.
  private static final JsonPointer CHANNEL = JsonPointer.compile("/channel");
  private static final JsonPointer COUPON = JsonPointer.compile("/coupon");
  private static final JsonPointer CREATED_AT = JsonPointer.compile("/created_at");
  private static final JsonPointer CURRENCY = JsonPointer.compile("/currency");
  private static final JsonPointer CUSTOMER_COUNTRY = JsonPointer.compile("/customer/country");
  private static final JsonPointer CUSTOMER_EMAIL = JsonPointer.compile("/customer/email");
  private static final JsonPointer CUSTOMER_NAME = JsonPointer.compile("/customer/name");
  private static final JsonPointer CUSTOMER_PHONE = JsonPointer.compile("/customer/phone");
  private static final JsonPointer DISCOUNT = JsonPointer.compile("/discount");
  private static final JsonPointer ITEMS = JsonPointer.compile("/items");
  private static final JsonPointer ORDER_ID = JsonPointer.compile("/order_id");
  private static final JsonPointer SHIPPED_AT = JsonPointer.compile("/shipped_at");
  private static final JsonPointer SHIPPING = JsonPointer.compile("/shipping");
  private static final JsonPointer SHIPPING_ADDRESS_COUNTRY = JsonPointer.compile("/shipping_address/country");
  private static final JsonPointer SHIPPING_ADDRESS_POSTAL_CODE = JsonPointer.compile("/shipping_address/postal_code");
  private static final JsonPointer STATUS = JsonPointer.compile("/status");
  private static final JsonPointer SUBTOTAL = JsonPointer.compile("/subtotal");
  private static final JsonPointer TAX = JsonPointer.compile("/tax");
  private static final JsonPointer TOTAL = JsonPointer.compile("/total");

  private static final List<String> STATUSES = List.of("pending", "paid", "shipped", "delivered", "cancelled", "refunded");
  private static final List<String> CHANNELS = List.of("web", "app", "store", "phone");
  private static final double CREATED_AT_MIN = IsoDates.parse("2015-01-01");

  private static final String NOT_FUTURE = "date(created_at) <= now() + days(1)";
  private static final int NOT_FUTURE_DATE = column(NOT_FUTURE, "date", 1);
  private static final int NOT_FUTURE_LE = column(NOT_FUTURE, "<=", 1);
  private static final int NOT_FUTURE_PLUS = column(NOT_FUTURE, "+", 1);
  private static final int NOT_FUTURE_DAYS = column(NOT_FUTURE, "days", 1);

  private static final String ADDS_UP = "abs(subtotal - coalesce(discount, 0) + coalesce(shipping, 0) + coalesce(tax, 0) - total) < 0.01";
  private static final int ADDS_UP_ABS = column(ADDS_UP, "abs", 1);
  private static final int ADDS_UP_MINUS_DISCOUNT = column(ADDS_UP, " - ", 1) + 1;
  private static final int ADDS_UP_PLUS_SHIPPING = column(ADDS_UP, " + ", 1) + 1;
  private static final int ADDS_UP_PLUS_TAX = column(ADDS_UP, " + ", 2) + 1;
  private static final int ADDS_UP_MINUS_TOTAL = column(ADDS_UP, " - ", 2) + 1;
  private static final int ADDS_UP_LT = column(ADDS_UP, " < ", 1) + 1;

  private static final String WITHIN_SUBTOTAL = "coalesce(discount, 0) >= 0 && coalesce(discount, 0) <= subtotal";
  private static final int WITHIN_SUBTOTAL_GE = column(WITHIN_SUBTOTAL, ">=", 1);
  private static final int WITHIN_SUBTOTAL_AND = column(WITHIN_SUBTOTAL, "&&", 1);
  private static final int WITHIN_SUBTOTAL_LE = column(WITHIN_SUBTOTAL, "<=", 1);

  private static final String AFTER_CREATED = "shipped_at == null || date(shipped_at) >= date(created_at)";
  private static final int AFTER_CREATED_OR = column(AFTER_CREATED, "||", 1);
  private static final int AFTER_CREATED_SHIPPED = column(AFTER_CREATED, "date", 1);
  private static final int AFTER_CREATED_GE = column(AFTER_CREATED, ">=", 1);
  private static final int AFTER_CREATED_CREATED = column(AFTER_CREATED, "date", 2);

  private static final String NOT_SHIPPED = "!(status == 'cancelled' && shipped_at != null)";
  private static final int NOT_SHIPPED_NOT = column(NOT_SHIPPED, "!", 1);
  private static final int NOT_SHIPPED_AND = column(NOT_SHIPPED, "&&", 1);

  private static final String MANUAL_REVIEW = "total < 10000";
  private static final int MANUAL_REVIEW_LT = column(MANUAL_REVIEW, "<", 1);

  private final Set<String> countries;
  private final Set<String> currencies;

  OrderRules(Set<String> countries, Set<String> currencies) {
    this.countries = countries;
    this.currencies = currencies;
  }

  void apply(JsonNode r, RecordRun run) {
    check(run, "order-id.format", ERROR, "/order_id", null, pattern(r.at(ORDER_ID), ORDER_ID_PATTERN));
    unique(run, "order-id.unique", ERROR, "/order_id", "order_id appears twice in this upload", r.at(ORDER_ID));
    check(run, "status.known", ERROR, "/status", null, oneOf(r.at(STATUS), STATUSES));
    check(run, "channel.known", WARNING, "/channel", null, oneOf(r.at(CHANNEL), CHANNELS));
    check(run, "created-at.not-ancient", ERROR, "/created_at", null, notBefore(r.at(CREATED_AT), CREATED_AT_MIN, "2015-01-01"));
    expression(run, "created-at.not-future", ERROR, "/created_at", "created_at is in the future", NOT_FUTURE, () -> compare(
        date(field(r, CREATED_AT), NOT_FUTURE_DATE),
        "<=",
        plus(run.now, days(1.0, NOT_FUTURE_DAYS), NOT_FUTURE_PLUS),
        NOT_FUTURE_LE));
    check(run, "customer.email.format", ERROR, "/customer/email", null, pattern(r.at(CUSTOMER_EMAIL), EMAIL_PATTERN));
    check(run, "customer.name.length", WARNING, "/customer/name", null, length(r.at(CUSTOMER_NAME), 2, 200));
    check(run, "customer.phone.e164", WARNING, "/customer/phone", null, pattern(r.at(CUSTOMER_PHONE), E164_PATTERN));
    check(run, "customer.country.known", ERROR, "/customer/country", null, inList(r.at(CUSTOMER_COUNTRY), countries, "countries"));
    check(run, "currency.known", ERROR, "/currency", null, inList(r.at(CURRENCY), currencies, "currencies"));
    check(run, "items.count", ERROR, "/items", null, length(r.at(ITEMS), 1, 500));
    eachItem(r, "sku", (value, path) -> check(run, "items.sku.format", ERROR, path, null, pattern(value, SKU_PATTERN)));
    eachItem(r, "quantity", (value, path) -> check(run, "items.quantity.range", ERROR, path, null, numberRange(value, 1, 10_000)));
    eachItem(r, "unit_price", (value, path) -> check(run, "items.unit-price.range", ERROR, path, null, numberRange(value, 0, 100_000)));
    check(run, "total.range", ERROR, "/total", null, numberRange(r.at(TOTAL), 0, 1_000_000));
    expression(run, "total.adds-up", ERROR, "/total", "total must equal subtotal - discount + shipping + tax", ADDS_UP, () -> {
      Object sum = minus(field(r, SUBTOTAL), coalesce(field(r, DISCOUNT), 0.0), ADDS_UP_MINUS_DISCOUNT);
      sum = plus(sum, coalesce(field(r, SHIPPING), 0.0), ADDS_UP_PLUS_SHIPPING);
      sum = plus(sum, coalesce(field(r, TAX), 0.0), ADDS_UP_PLUS_TAX);
      sum = minus(sum, field(r, TOTAL), ADDS_UP_MINUS_TOTAL);
      return compare(abs(sum, ADDS_UP_ABS), "<", 0.01, ADDS_UP_LT);
    });
    expression(run, "discount.within-subtotal", ERROR, "/discount", null, WITHIN_SUBTOTAL, () -> and(
        compare(coalesce(field(r, DISCOUNT), 0.0), ">=", 0.0, WITHIN_SUBTOTAL_GE),
        () -> compare(coalesce(field(r, DISCOUNT), 0.0), "<=", field(r, SUBTOTAL), WITHIN_SUBTOTAL_LE),
        WITHIN_SUBTOTAL_AND));
    expression(run, "shipped-at.after-created", ERROR, "/shipped_at", "shipped_at is before created_at", AFTER_CREATED, () -> or(
        equal(field(r, SHIPPED_AT), null),
        () -> compare(date(field(r, SHIPPED_AT), AFTER_CREATED_SHIPPED), ">=", date(field(r, CREATED_AT), AFTER_CREATED_CREATED), AFTER_CREATED_GE),
        AFTER_CREATED_OR));
    expression(run, "cancelled.not-shipped", ERROR, "/status", "a cancelled order cannot have shipped", NOT_SHIPPED, () -> not(
        and(equal(field(r, STATUS), "cancelled"), () -> !equal(field(r, SHIPPED_AT), null), NOT_SHIPPED_AND),
        NOT_SHIPPED_NOT));
    Object status = field(r, STATUS);
    // when: status in ['shipped', 'delivered'] (a set of literals: always true or false)
    if ("shipped".equals(status) || "delivered".equals(status)) {
      JsonNode postalCode = r.at(SHIPPING_ADDRESS_POSTAL_CODE);
      check(run, "shipping-address.postal-code.required", ERROR, "/shipping_address/postal_code", "shipped orders need a postal code",
          postalCode.isMissingNode() || postalCode.isNull() ? "is required" : null);
    }
    // when: shipping_address.country == 'PT' (== always gives true or false)
    if (equal(field(r, SHIPPING_ADDRESS_COUNTRY), "PT")) {
      check(run, "shipping-address.postal-code.pt", ERROR, "/shipping_address/postal_code", null, pattern(r.at(SHIPPING_ADDRESS_POSTAL_CODE), PT_POSTAL_CODE_PATTERN));
    }
    check(run, "coupon.format", WARNING, "/coupon", null, pattern(r.at(COUPON), COUPON_PATTERN));
    expression(run, "total.manual-review", WARNING, "/total", "orders of 10000 or more need a manual review", MANUAL_REVIEW,
        () -> compare(field(r, TOTAL), "<", 10_000.0, MANUAL_REVIEW_LT));
  }

  // ---- how each kind of rule reports ----

  private static void check(RecordRun run, String id, String severity, String path, String message, String failure) {
    if (failure != null) run.report(id, severity, path, message != null ? message : failure);
  }

  /** An expression rule: false is reported, unknown (null) passes, a failed evaluation is reported with its reason. */
  private static void expression(RecordRun run, String id, String severity, String path, String message, String source, Supplier<Object> evaluate) {
    Object result;
    try {
      result = evaluate.get();
    } catch (Expressions.Failure failure) {
      run.report(id, severity, path, message == null ? "expression failed: " + failure.getMessage() : message + " (expression failed: " + failure.getMessage() + ")");
      return;
    }
    if (Boolean.FALSE.equals(result)) run.report(id, severity, path, message != null ? message : "expression is false: " + source);
    else if (result != null && !(result instanceof Boolean)) run.report(id, severity, path, "expression must give true or false, got " + Expressions.typeName(result));
  }

  /** The value (not null) must not appear in another record of the job; claimed in the store, so it holds across batches and restarts. */
  private static void unique(RecordRun run, String id, String severity, String path, String message, JsonNode value) {
    if (value.isMissingNode() || value.isNull()) return;
    if (run.claims.seen(run.jobId, id, uniqueKey(value), run.recordNumber)) run.report(id, severity, path, message);
  }

  /** A field under the rule set's /items wildcard: `key` of each element of an array (or value of an object) at /items; nothing when /items is neither. */
  private static void eachItem(JsonNode record, String key, BiConsumer<JsonNode, String> visit) {
    JsonNode items = record.at(ITEMS);
    if (items.isArray()) {
      for (int i = 0; i < items.size(); i++) visit.accept(items.get(i).path(key), "/items/" + i + "/" + key);
    } else if (items.isObject()) {
      for (Iterator<Map.Entry<String, JsonNode>> it = items.properties().iterator(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> entry = it.next();
        visit.accept(entry.getValue().path(key), "/items/" + escapePointer(entry.getKey()) + "/" + key);
      }
    }
  }

  // ---- checks of one value: null when it passes, else the engine's default message ----

  private static boolean absent(JsonNode value) {
    return value.isMissingNode() || value.isNull();
  }

  /** The whole value must match (the rule's default "match": "full"). */
  private static String pattern(JsonNode value, RulePattern pattern) {
    if (absent(value)) return null;
    if (!value.isString()) return "must be a string, got " + Expressions.typeName(Expressions.value(value));
    return pattern.regex().matcher(value.stringValue()).matches() ? null : "does not match the pattern " + pattern.source();
  }

  private static String oneOf(JsonNode value, List<String> values) {
    if (absent(value)) return null;
    if (value.isString() && values.contains(value.stringValue())) return null;
    StringBuilder shown = new StringBuilder("must be one of ");
    for (int i = 0; i < values.size(); i++) shown.append(i == 0 ? "" : ", ").append('"').append(values.get(i)).append('"');
    return shown.toString();
  }

  private static String inList(JsonNode value, Set<String> list, String name) {
    if (absent(value)) return null;
    return value.isString() && list.contains(value.stringValue()) ? null : "is not in the reference list \"" + name + "\"";
  }

  private static String length(JsonNode value, int min, int max) {
    if (absent(value)) return null;
    int length;
    String unit;
    if (value.isString()) {
      String text = value.stringValue();
      length = text.codePointCount(0, text.length());
      unit = "character";
    } else if (value.isArray()) {
      length = value.size();
      unit = "item";
    } else {
      return "must be a string or an array, got " + Expressions.typeName(Expressions.value(value));
    }
    if (length < min) return "must have at least " + min + " " + unit + (min == 1 ? "" : "s") + ", got " + length;
    if (length > max) return "must have at most " + max + " " + unit + (max == 1 ? "" : "s") + ", got " + length;
    return null;
  }

  private static String numberRange(JsonNode value, double min, double max) {
    if (absent(value)) return null;
    if (!value.isNumber()) return "must be a number, got " + Expressions.typeName(Expressions.value(value));
    double n = value.doubleValue();
    if (n < min) return "must be >= " + jsNumber(min) + ", got " + jsNumber(n);
    if (n > max) return "must be <= " + jsNumber(max) + ", got " + jsNumber(n);
    return null;
  }

  private static String notBefore(JsonNode value, double min, String minText) {
    if (absent(value)) return null;
    if (!value.isString()) return "must be an ISO 8601 date string, got " + Expressions.typeName(Expressions.value(value));
    double time = IsoDates.parse(value.stringValue());
    if (Double.isNaN(time)) return "is not a valid ISO 8601 date";
    return time < min ? "must be on or after " + minText : null;
  }

  // ---- text as the engine writes it ----

  /** A number as JavaScript prints it (1, 0.5, 1e+21), for messages and keys. */
  static String jsNumber(double n) {
    if (n == Math.rint(n) && Math.abs(n) < 1e21) return Long.toString((long) n);
    double magnitude = Math.abs(n);
    if (magnitude >= 1e-6 && magnitude < 1e21) return new BigDecimal(Double.toString(n)).stripTrailingZeros().toPlainString();
    String[] parts = Double.toString(n).split("E");
    String mantissa = parts[0].endsWith(".0") ? parts[0].substring(0, parts[0].length() - 2) : parts[0];
    int exponent = Integer.parseInt(parts[1]);
    return mantissa + "e" + (exponent < 0 ? "-" : "+") + Math.abs(exponent);
  }

  /** The key a unique rule claims: the value's JSON, numbers as JavaScript writes them (1.0 and 1 are one value). */
  private static String uniqueKey(JsonNode value) {
    return value.isNumber() ? jsNumber(value.doubleValue()) : value.toString();
  }

  private static String escapePointer(String key) {
    return key.replace("~", "~0").replace("/", "~1");
  }
}
