import type Database from 'better-sqlite3';
import { StoreError } from './store.js';

/**
 * The schema of the SQLite store as ordered steps. A step, once released, never changes: a new
 * column or index is a new step at the end. `applyMigrations` runs the steps a database lacks,
 * each in its own transaction with its row in `schema_migrations`.
 */
export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly up: (db: Database.Database, features: SqliteFeatures) => void;
}

export interface SqliteFeatures {
  /** FTS5 is compiled into the SQLite build (better-sqlite3's bundled one has it). */
  readonly fts5: boolean;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'rule sets, jobs, results, violations, messages, uniqueness claims, dead-letter queue',
    up: (db) =>
      db.exec(`
        CREATE TABLE rule_sets (
          name TEXT NOT NULL,
          version INTEGER NOT NULL CHECK (version >= 1),
          document TEXT NOT NULL, -- canonical JSON (object keys sorted), compared to refuse a changed version
          created_at INTEGER NOT NULL,
          PRIMARY KEY (name, version)
        ) WITHOUT ROWID;

        CREATE TABLE jobs (
          job_key INTEGER PRIMARY KEY, -- compact key for the big tables; "id" is the public one
          id TEXT NOT NULL UNIQUE,
          rule_set TEXT NOT NULL,
          rule_set_version INTEGER NOT NULL,
          total INTEGER CHECK (total IS NULL OR total >= 0),
          created_at INTEGER NOT NULL,
          source TEXT NOT NULL,
          -- kept by upsertResults in the same transaction as the results they count
          result_count INTEGER NOT NULL DEFAULT 0,
          valid_count INTEGER NOT NULL DEFAULT 0,
          warnings_only_count INTEGER NOT NULL DEFAULT 0,
          truncated_count INTEGER NOT NULL DEFAULT 0,
          violation_count INTEGER NOT NULL DEFAULT 0,
          FOREIGN KEY (rule_set, rule_set_version) REFERENCES rule_sets (name, version)
        );
        CREATE INDEX jobs_by_created ON jobs (created_at, job_key);

        -- A rowid table (not WITHOUT ROWID) because "record" can be kilobytes.
        CREATE TABLE results (
          job_key INTEGER NOT NULL,
          record_number INTEGER NOT NULL,
          valid INTEGER NOT NULL CHECK (valid IN (0, 1)),
          violation_count INTEGER NOT NULL,
          warnings INTEGER NOT NULL, -- violations of severity warning
          truncated INTEGER NOT NULL CHECK (truncated IN (0, 1)),
          record TEXT,
          record_omitted INTEGER NOT NULL CHECK (record_omitted IN (0, 1)),
          UNIQUE (job_key, record_number)
        );
        CREATE INDEX results_by_validity ON results (job_key, valid, record_number);

        -- Violation messages repeat (one per rule, give or take the values in them): stored once,
        -- which keeps violations small and the text index tiny.
        CREATE TABLE messages (
          message_id INTEGER PRIMARY KEY,
          text TEXT NOT NULL UNIQUE
        );

        CREATE TABLE violations (
          job_key INTEGER NOT NULL,
          record_number INTEGER NOT NULL,
          seq INTEGER NOT NULL, -- order within the record, as the rule engine reported
          rule_id TEXT NOT NULL,
          severity TEXT NOT NULL CHECK (severity IN ('error', 'warning')),
          path TEXT NOT NULL,
          message_id INTEGER NOT NULL,
          PRIMARY KEY (job_key, record_number, seq)
        ) WITHOUT ROWID;
        CREATE INDEX violations_by_rule ON violations (job_key, rule_id, record_number);
        CREATE INDEX violations_by_path ON violations (job_key, path, record_number);
        CREATE INDEX violations_by_message ON violations (job_key, message_id, record_number);

        -- Violations counted by rule, by severity and by field path, for the records of each
        -- validity: kept by upsertResults in the same transaction, so a job summary and the facets
        -- of an unfiltered search read a few rows instead of aggregating every violation.
        CREATE TABLE violation_counts (
          job_key INTEGER NOT NULL,
          kind TEXT NOT NULL CHECK (kind IN ('rule', 'severity', 'path')),
          value TEXT NOT NULL, -- the rule id, the severity or the path
          severity TEXT NOT NULL, -- of the rule (kind rule), the value (kind severity), '' (kind path)
          record_valid INTEGER NOT NULL CHECK (record_valid IN (0, 1)),
          violations INTEGER NOT NULL,
          records INTEGER NOT NULL, -- records with at least one such violation
          PRIMARY KEY (job_key, kind, value, severity, record_valid)
        ) WITHOUT ROWID;

        CREATE TABLE unique_claims (
          job_key INTEGER NOT NULL,
          rule_id TEXT NOT NULL,
          key TEXT NOT NULL,
          record_number INTEGER NOT NULL, -- the first record that claimed the key
          PRIMARY KEY (job_key, rule_id, key)
        ) WITHOUT ROWID;

        CREATE TABLE dlq (
          seq INTEGER PRIMARY KEY,
          id TEXT NOT NULL UNIQUE,
          job_id TEXT, -- not a reference: a message whose job is unknown is kept too
          record_number INTEGER,
          kafka_topic TEXT NOT NULL,
          kafka_partition INTEGER NOT NULL,
          kafka_offset INTEGER NOT NULL,
          reason TEXT NOT NULL,
          code TEXT NOT NULL,
          payload BLOB NOT NULL,
          payload_size INTEGER NOT NULL,
          created_at INTEGER NOT NULL,
          replayed_at INTEGER,
          UNIQUE (kafka_topic, kafka_partition, kafka_offset)
        );
        CREATE INDEX dlq_by_job ON dlq (job_id, seq);
      `),
  },
  {
    version: 2,
    description: 'text index of violation messages (FTS5 trigram; searches fall back to a scan of messages without FTS5)',
    up: (db, features) => {
      if (!features.fts5) return;
      db.exec(`
        CREATE VIRTUAL TABLE messages_fts USING fts5 (text, content = 'messages', content_rowid = 'message_id', tokenize = 'trigram');
        INSERT INTO messages_fts (rowid, text) SELECT message_id, text FROM messages;
        -- messages are only ever inserted
        CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
          INSERT INTO messages_fts (rowid, text) VALUES (new.message_id, new.text);
        END;
      `);
    },
  },
  {
    version: 3,
    description: 'jobs keep the SHA-256 of their upload once it was read to the end (a resubmission with other content is refused)',
    up: (db) => {
      db.exec('ALTER TABLE jobs ADD COLUMN upload_sha256 TEXT');
    },
  },
];

export const SCHEMA_VERSION = MIGRATIONS.reduce((latest, migration) => Math.max(latest, migration.version), 0);

export function detectFeatures(db: Database.Database): SqliteFeatures {
  const row = db.prepare("SELECT sqlite_compileoption_used('ENABLE_FTS5') AS fts5").get() as { fts5: number };
  return { fts5: row.fts5 === 1 };
}

/**
 * Brings the database to SCHEMA_VERSION; refuses one written by a newer build. Safe when several
 * processes open the same file at once: each step runs under the write lock and re-reads the
 * applied versions first.
 */
export function applyMigrations(db: Database.Database, file: string, migrations: readonly Migration[] = MIGRATIONS): number[] {
  db.exec(`
    CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY,
      description TEXT NOT NULL,
      applied_at INTEGER NOT NULL
    )
  `);
  const known = migrations.reduce((latest, migration) => Math.max(latest, migration.version), 0);
  const appliedVersions = db.prepare('SELECT version FROM schema_migrations ORDER BY version');
  const record = db.prepare('INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)');
  const features = detectFeatures(db);
  const appliedNow: number[] = [];
  const ordered = [...migrations].sort((a, b) => a.version - b.version);
  const step = db.transaction((migration: Migration) => {
    const applied = new Set(appliedVersions.pluck().all() as number[]);
    if (applied.has(migration.version)) return;
    migration.up(db, features);
    record.run(migration.version, migration.description, Date.now());
    appliedNow.push(migration.version);
  });
  refuseNewer(appliedVersions.pluck().all() as number[], known, file);
  for (const migration of ordered) step.immediate(migration);
  return appliedNow;
}

function refuseNewer(applied: readonly number[], known: number, file: string): void {
  const newest = applied.reduce((latest, version) => Math.max(latest, version), 0);
  if (newest > known) {
    throw new StoreError(
      'SCHEMA_TOO_NEW',
      `result store ${file} has schema version ${newest}, written by a newer lagscale; this one knows up to version ${known}: upgrade lagscale, or point it at another file`,
    );
  }
}
