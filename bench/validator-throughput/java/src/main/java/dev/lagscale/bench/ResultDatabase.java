package dev.lagscale.bench;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.util.List;

/**
 * The peer's SQLite file over JDBC (xerial sqlite-jdbc): a result row per record and a
 * dead-letter row per message that could not be validated, each keyed by its Kafka position so
 * that a redelivered batch changes nothing, the `unique` rules' claims, and the counts the
 * benchmark reads for progress. A batch is one transaction, committed before the consumer
 * commits its offsets; claims made while validating it belong to the same transaction. WAL with
 * synchronous NORMAL, like the lagscale SQLite store's default.
 */
final class ResultDatabase implements AutoCloseable, RecordRun.UniqueClaims {
  /** One validated record. */
  record ResultRow(String topic, int partition, long offset, String key, String jobId, long recordNumber, boolean valid, String violations, boolean truncated, long validatedAt) {}

  /** One message that could not be validated, with its value as received. */
  record DeadLetterRow(String topic, int partition, long offset, String key, String jobId, Long recordNumber, DeadLetterReason reason, byte[] payload, long createdAt) {}

  private static final String SCHEMA = """
      CREATE TABLE IF NOT EXISTS results (
        kafka_topic TEXT NOT NULL,
        kafka_partition INTEGER NOT NULL,
        kafka_offset INTEGER NOT NULL,
        record_key TEXT NOT NULL,
        job_id TEXT NOT NULL,
        record_number INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('valid', 'invalid')),
        violations TEXT NOT NULL, -- JSON array of {ruleId, severity, path, message}, warnings included
        truncated INTEGER NOT NULL CHECK (truncated IN (0, 1)),
        validated_at INTEGER NOT NULL,
        PRIMARY KEY (kafka_topic, kafka_partition, kafka_offset)
      );
      CREATE TABLE IF NOT EXISTS dead_letters (
        kafka_topic TEXT NOT NULL,
        kafka_partition INTEGER NOT NULL,
        kafka_offset INTEGER NOT NULL,
        record_key TEXT,
        job_id TEXT,
        record_number INTEGER,
        code TEXT NOT NULL,
        reason TEXT NOT NULL,
        payload BLOB,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (kafka_topic, kafka_partition, kafka_offset)
      );
      CREATE TABLE IF NOT EXISTS unique_claims (
        job_id TEXT NOT NULL,
        rule_id TEXT NOT NULL,
        key TEXT NOT NULL,
        record_number INTEGER NOT NULL, -- the first record that claimed the key
        PRIMARY KEY (job_id, rule_id, key)
      ) WITHOUT ROWID;
      -- kept in the same transaction as the rows they count
      CREATE TABLE IF NOT EXISTS progress (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        results INTEGER NOT NULL,
        dead_letters INTEGER NOT NULL
      );
      INSERT OR IGNORE INTO progress (id, results, dead_letters) VALUES (1, 0, 0);
      """;

  private final Connection connection;
  private final PreparedStatement insertResult;
  private final PreparedStatement insertDeadLetter;
  private final PreparedStatement insertClaim;
  private final PreparedStatement claimOwner;
  private final PreparedStatement addProgress;

  private ResultDatabase(Connection connection) throws SQLException {
    this.connection = connection;
    insertResult = connection.prepareStatement(
        "INSERT OR IGNORE INTO results (kafka_topic, kafka_partition, kafka_offset, record_key, job_id, record_number, status, violations, truncated, validated_at)"
            + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    insertDeadLetter = connection.prepareStatement(
        "INSERT OR IGNORE INTO dead_letters (kafka_topic, kafka_partition, kafka_offset, record_key, job_id, record_number, code, reason, payload, created_at)"
            + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    insertClaim = connection.prepareStatement("INSERT OR IGNORE INTO unique_claims (job_id, rule_id, key, record_number) VALUES (?, ?, ?, ?)");
    claimOwner = connection.prepareStatement("SELECT record_number FROM unique_claims WHERE job_id = ? AND rule_id = ? AND key = ?");
    addProgress = connection.prepareStatement("UPDATE progress SET results = results + ?, dead_letters = dead_letters + ? WHERE id = 1");
  }

  static ResultDatabase open(String file) throws SQLException {
    Connection connection = DriverManager.getConnection("jdbc:sqlite:" + file);
    try (Statement statement = connection.createStatement()) {
      try (ResultSet mode = statement.executeQuery("PRAGMA journal_mode = WAL")) {
        if (!mode.next() || !mode.getString(1).equalsIgnoreCase("wal")) throw new SQLException(file + ": SQLite refused WAL mode");
      }
      statement.execute("PRAGMA synchronous = NORMAL");
      statement.execute("PRAGMA busy_timeout = 10000");
      statement.execute("PRAGMA cache_size = -65536");
      statement.execute("PRAGMA temp_store = MEMORY");
      statement.executeUpdate(SCHEMA);
    } catch (SQLException e) {
      connection.close();
      throw e;
    }
    connection.setAutoCommit(false);
    return new ResultDatabase(connection);
  }

  String driverVersion() throws SQLException {
    return connection.getMetaData().getDriverVersion();
  }

  String sqliteVersion() throws SQLException {
    return connection.getMetaData().getDatabaseProductVersion();
  }

  @Override
  public boolean seen(String jobId, String ruleId, String key, long recordNumber) {
    try {
      insertClaim.setString(1, jobId);
      insertClaim.setString(2, ruleId);
      insertClaim.setString(3, key);
      insertClaim.setLong(4, recordNumber);
      if (insertClaim.executeUpdate() == 1) return false;
      claimOwner.setString(1, jobId);
      claimOwner.setString(2, ruleId);
      claimOwner.setString(3, key);
      try (ResultSet owner = claimOwner.executeQuery()) {
        // A redelivered record finds its own claim: not a duplicate.
        return owner.next() && owner.getLong(1) != recordNumber;
      }
    } catch (SQLException e) {
      throw new IllegalStateException("claiming a unique value failed: " + e.getMessage(), e);
    }
  }

  /** Writes a batch's rows and their counts, and commits: the batch's one transaction. */
  void write(List<ResultRow> results, List<DeadLetterRow> deadLetters) throws SQLException {
    try {
      for (ResultRow row : results) {
        insertResult.setString(1, row.topic());
        insertResult.setInt(2, row.partition());
        insertResult.setLong(3, row.offset());
        insertResult.setString(4, row.key());
        insertResult.setString(5, row.jobId());
        insertResult.setLong(6, row.recordNumber());
        insertResult.setString(7, row.valid() ? "valid" : "invalid");
        insertResult.setString(8, row.violations());
        insertResult.setInt(9, row.truncated() ? 1 : 0);
        insertResult.setLong(10, row.validatedAt());
        insertResult.addBatch();
      }
      int resultsAdded = results.isEmpty() ? 0 : added(insertResult.executeBatch());
      for (DeadLetterRow row : deadLetters) {
        insertDeadLetter.setString(1, row.topic());
        insertDeadLetter.setInt(2, row.partition());
        insertDeadLetter.setLong(3, row.offset());
        insertDeadLetter.setString(4, row.key());
        insertDeadLetter.setString(5, row.jobId());
        if (row.recordNumber() == null) insertDeadLetter.setNull(6, Types.INTEGER);
        else insertDeadLetter.setLong(6, row.recordNumber());
        insertDeadLetter.setString(7, row.reason().code());
        insertDeadLetter.setString(8, row.reason().reason());
        insertDeadLetter.setBytes(9, row.payload());
        insertDeadLetter.setLong(10, row.createdAt());
        insertDeadLetter.addBatch();
      }
      int deadLettersAdded = deadLetters.isEmpty() ? 0 : added(insertDeadLetter.executeBatch());
      addProgress.setInt(1, resultsAdded);
      addProgress.setInt(2, deadLettersAdded);
      addProgress.executeUpdate();
      connection.commit();
    } catch (SQLException | RuntimeException e) {
      rollback();
      throw e;
    }
  }

  /** Drops what the current batch did (its claims included). */
  void rollback() {
    try {
      connection.rollback();
    } catch (SQLException e) {
      System.err.println("rollback failed: " + e.getMessage());
    }
  }

  /** Rows an INSERT OR IGNORE batch added (0 for a row already there). */
  private static int added(int[] counts) {
    int total = 0;
    for (int count : counts) total += count == Statement.SUCCESS_NO_INFO ? 1 : Math.max(count, 0);
    return total;
  }

  @Override
  public void close() throws SQLException {
    connection.close();
  }
}
