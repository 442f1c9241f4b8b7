package dev.lagscale.bench;

import java.util.Iterator;
import java.util.Map;
import java.util.function.Supplier;
import tools.jackson.core.JsonPointer;
import tools.jackson.databind.JsonNode;

/**
 * The operators and functions of the rule set's expression language, as the rule engine evaluates
 * them (packages/validator/src/rules/expression), for the expressions of the orders rule set
 * written out in Java. A value is null (a missing field or JSON null: "unknown"), Boolean, Double,
 * String, or a JsonNode array or object. Unknown propagates; a wrong type fails the evaluation
 * with the engine's message, which the rule reports.
 */
final class Expressions {
  private Expressions() {}

  /** An evaluation that failed; the rule reports the message. */
  static final class Failure extends RuntimeException {
    Failure(String message) {
      super(message, null, false, false);
    }
  }

  static Object value(JsonNode node) {
    if (node.isMissingNode() || node.isNull()) return null;
    if (node.isString()) return node.stringValue();
    if (node.isNumber()) return node.doubleValue();
    if (node.isBoolean()) return node.booleanValue();
    return node;
  }

  static Object field(JsonNode record, JsonPointer pointer) {
    return value(record.at(pointer));
  }

  static String typeName(Object value) {
    if (value == null) return "null";
    if (value instanceof Boolean) return "boolean";
    if (value instanceof Double) return "number";
    if (value instanceof String) return "string";
    return ((JsonNode) value).isArray() ? "array" : "object";
  }

  /** The 1-based column of the {@code nth} (from 1) occurrence of {@code token} in {@code source}, as the parser numbers tokens. */
  static int column(String source, String token, int nth) {
    int at = -1;
    for (int i = 0; i < nth; i++) {
      at = source.indexOf(token, at + 1);
      if (at < 0) throw new IllegalArgumentException("'" + token + "' occurs fewer than " + nth + " times in " + source);
    }
    return at + 1;
  }

  private static Failure fail(String message, int column) {
    return new Failure(message + " (column " + column + ")");
  }

  static Object coalesce(Object first, Object second) {
    return first != null ? first : second;
  }

  static Object plus(Object a, Object b, int column) {
    if (a == null || b == null) return null;
    if (a instanceof Double x && b instanceof Double y) return finite(x + y, "+", column);
    if (a instanceof String x && b instanceof String y) return x + y;
    throw fail("'+' needs two numbers or two strings, got " + typeName(a) + " and " + typeName(b), column);
  }

  static Object minus(Object a, Object b, int column) {
    if (a == null || b == null) return null;
    if (!(a instanceof Double x) || !(b instanceof Double y)) throw fail("'-' needs numbers, got " + typeName(a) + " and " + typeName(b), column);
    return finite(x - y, "-", column);
  }

  private static Double finite(double n, String operator, int column) {
    if (!Double.isFinite(n)) throw fail("'" + operator + "' overflowed", column);
    return n;
  }

  /** {@code <}, {@code <=}, {@code >}, {@code >=}: two numbers or two strings (by UTF-16 code units, like JavaScript). */
  static Object compare(Object a, String operator, Object b, int column) {
    if (a == null || b == null) return null;
    int order;
    if (a instanceof Double x && b instanceof Double y) order = x < y ? -1 : x > y ? 1 : 0;
    else if (a instanceof String x && b instanceof String y) order = Integer.signum(x.compareTo(y));
    else throw fail("cannot compare " + typeName(a) + " with " + typeName(b), column);
    return switch (operator) {
      case "<" -> order == -1;
      case "<=" -> order == -1 || order == 0;
      case ">" -> order == 1;
      case ">=" -> order == 1 || order == 0;
      default -> throw new IllegalArgumentException(operator);
    };
  }

  /** Strict for scalars (1 != '1'), structural for arrays and objects; null == null. */
  static boolean equal(Object a, Object b) {
    if (a == null || b == null) return a == b;
    if (a instanceof Double x && b instanceof Double y) return x.doubleValue() == y.doubleValue();
    if (a instanceof JsonNode x && b instanceof JsonNode y) return sameJson(x, y);
    return a.equals(b);
  }

  private static boolean sameJson(JsonNode a, JsonNode b) {
    if (a.isArray() != b.isArray() || a.size() != b.size()) return false;
    if (a.isArray()) {
      for (int i = 0; i < a.size(); i++) if (!equal(value(a.get(i)), value(b.get(i)))) return false;
      return true;
    }
    for (Iterator<Map.Entry<String, JsonNode>> it = a.properties().iterator(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> entry = it.next();
      JsonNode other = b.get(entry.getKey());
      if (other == null || !equal(value(entry.getValue()), value(other))) return false;
    }
    return true;
  }

  static Object not(Object value, int column) {
    if (value == null) return null;
    if (!(value instanceof Boolean b)) throw fail("'!' needs a boolean, got " + typeName(value), column);
    return !b;
  }

  /** Kleene logic: false && unknown is false, true || unknown is true; the right side is evaluated only when needed. */
  static Object and(Object left, Supplier<Object> right, int column) {
    return logical(false, "&&", left, right, column);
  }

  static Object or(Object left, Supplier<Object> right, int column) {
    return logical(true, "||", left, right, column);
  }

  private static Object logical(boolean decisive, String operator, Object left, Supplier<Object> right, int column) {
    if (left instanceof Boolean b && b == decisive) return decisive;
    checkLogical(operator, left, column);
    Object other = right.get();
    if (other instanceof Boolean b && b == decisive) return decisive;
    checkLogical(operator, other, column);
    return left == null || other == null ? null : !decisive;
  }

  private static void checkLogical(String operator, Object value, int column) {
    if (value != null && !(value instanceof Boolean)) throw fail("'" + operator + "' needs booleans, got " + typeName(value), column);
  }

  static Object abs(Object value, int column) {
    if (value == null) return null;
    if (!(value instanceof Double n)) throw fail("abs() needs a number, got " + typeName(value), column);
    return Math.abs(n);
  }

  static Object days(Object value, int column) {
    if (value == null) return null;
    if (!(value instanceof Double n)) throw fail("days() needs a number, got " + typeName(value), column);
    return n * 86_400_000.0;
  }

  static Object date(Object value, int column) {
    if (value == null) return null;
    if (!(value instanceof String text)) throw fail("date() needs an ISO 8601 date string, got " + typeName(value), column);
    double time = IsoDates.parse(text);
    if (Double.isNaN(time)) throw fail("date(): the string is not an ISO 8601 date", column);
    return time;
  }
}
