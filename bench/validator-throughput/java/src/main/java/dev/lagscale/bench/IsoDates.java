package dev.lagscale.bench;

import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * ISO 8601 dates as the rule engine reads them (packages/validator/src/rules/iso-date.ts):
 * {@code 2024-05-01}, {@code 2024-05-01T10:15:00Z}, {@code 2024-05-01T10:15:00.250+02:00},
 * {@code 2024-05-01 10:15}; a date alone is midnight UTC, no offset is UTC. Epoch milliseconds,
 * or NaN when the text is no such date (2023-02-29 included).
 */
final class IsoDates {
  private static final Pattern ISO =
      Pattern.compile("([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\\.([0-9]{1,9}))?)?([Zz]|[+-][0-9]{2}:[0-9]{2})?)?");

  private IsoDates() {}

  static double parse(String text) {
    if (text.length() > 40) return Double.NaN;
    Matcher m = ISO.matcher(text);
    if (!m.matches()) return Double.NaN;
    int year = Integer.parseInt(m.group(1));
    int month = Integer.parseInt(m.group(2));
    int day = Integer.parseInt(m.group(3));
    if (month < 1 || month > 12 || day < 1 || day > LocalDate.of(year, month, 1).lengthOfMonth()) return Double.NaN;
    if (m.group(4) == null) return LocalDate.of(year, month, day).toEpochDay() * 86_400_000.0;
    int hour = Integer.parseInt(m.group(4));
    int minute = Integer.parseInt(m.group(5));
    int second = m.group(6) == null ? 0 : Integer.parseInt(m.group(6));
    if (hour > 23 || minute > 59 || second > 59) return Double.NaN;
    String fraction = m.group(7);
    int millis = fraction == null ? 0 : Integer.parseInt((fraction + "00").substring(0, 3));
    int offsetMinutes = 0;
    String zone = m.group(8);
    if (zone != null && !zone.equalsIgnoreCase("Z")) {
      int hours = Integer.parseInt(zone.substring(1, 3));
      int minutes = Integer.parseInt(zone.substring(4, 6));
      if (hours > 23 || minutes > 59) return Double.NaN;
      offsetMinutes = (zone.charAt(0) == '-' ? -1 : 1) * (hours * 60 + minutes);
    }
    long seconds = LocalDateTime.of(year, month, day, hour, minute, second).toEpochSecond(ZoneOffset.UTC);
    return seconds * 1000.0 + millis - offsetMinutes * 60_000.0;
  }
}
