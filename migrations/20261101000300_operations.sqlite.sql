-- Operations: access tokens, the command queue from dashboards to EAs with one delivery row per
-- EA instance, notifications, the append-only audit log, system metrics and EA iteration logs.
-- Split by dialect for row ids, JSON and the append-only guard.

-- Tokens are stored hashed ('sha256:<hex>' of a random secret); the secret is shown once.
-- A name is unique among live tokens only, so a revoked token's name can be reused.
CREATE TABLE tokens (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('ea', 'viewer', 'admin')),
  token_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  revoked_at INTEGER,
  CONSTRAINT tokens_token_hash_key UNIQUE (token_hash)
);

CREATE UNIQUE INDEX tokens_live_name_key ON tokens (name) WHERE revoked_at IS NULL;

-- Commands: id is chosen by the issuer, so a resent command is refused as a duplicate key rather
-- than queued twice. Every command names its account; target says which EAs of it: one instance
-- (stream_id), those with one magic number, or all of them. expires_at makes a stale
-- "close all" refusable after a reconnect. status is the command's overall state; the
-- per-instance story is in command_deliveries.
CREATE TABLE commands (
  id TEXT NOT NULL PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts (id),
  target TEXT NOT NULL CHECK (target IN ('instance', 'magic', 'account')),
  stream_id INTEGER REFERENCES streams (id),
  magic INTEGER,
  type TEXT NOT NULL CHECK (type IN ('pause', 'resume', 'close_positions', 'close_all', 'set_risk',
    'custom')),
  payload TEXT CHECK (payload IS NULL OR json_valid(payload)),
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'accepted',
    'rejected', 'duplicate', 'expired', 'succeeded', 'failed')),
  created_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  expires_at INTEGER NOT NULL,
  delivered_at INTEGER,
  acked_at INTEGER,
  finished_at INTEGER,
  result TEXT CHECK (result IS NULL OR json_valid(result)),
  error TEXT,
  issued_by_token_id INTEGER REFERENCES tokens (id),
  CONSTRAINT commands_target_fields_check CHECK (
    (target = 'instance' AND stream_id IS NOT NULL AND magic IS NULL)
    OR (target = 'magic' AND stream_id IS NULL AND magic IS NOT NULL)
    OR (target = 'account' AND stream_id IS NULL AND magic IS NULL)),
  CONSTRAINT commands_expiry_check CHECK (expires_at > created_at)
);

CREATE INDEX commands_account_created_idx ON commands (account_id, created_at);
CREATE INDEX commands_open_expiry_idx ON commands (expires_at)
  WHERE status IN ('pending', 'delivered', 'accepted');

-- One row per (command, EA instance) it reached: an EA that reconnects is sent only what it has no
-- row for, and its ack/result updates its own row.
CREATE TABLE command_deliveries (
  command_id TEXT NOT NULL REFERENCES commands (id) ON DELETE CASCADE,
  stream_id INTEGER NOT NULL REFERENCES streams (id),
  status TEXT NOT NULL DEFAULT 'delivered' CHECK (status IN ('delivered', 'accepted', 'rejected',
    'duplicate', 'expired', 'succeeded', 'failed')),
  delivered_at INTEGER NOT NULL,
  acked_at INTEGER,
  finished_at INTEGER,
  result TEXT CHECK (result IS NULL OR json_valid(result)),
  error TEXT,
  PRIMARY KEY (command_id, stream_id)
);

CREATE INDEX command_deliveries_stream_idx ON command_deliveries (stream_id, delivered_at);

-- dedupe_key lets an alert fire once per cause (e.g. 'risk:daily_loss:<account>:<day>').
CREATE TABLE notifications (
  id INTEGER PRIMARY KEY,
  created_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  level TEXT NOT NULL CHECK (level IN ('info', 'warning', 'error', 'critical')),
  kind TEXT NOT NULL,
  account_id INTEGER REFERENCES accounts (id),
  stream_id INTEGER REFERENCES streams (id),
  title TEXT NOT NULL,
  body TEXT,
  data TEXT CHECK (data IS NULL OR json_valid(data)),
  dedupe_key TEXT,
  read_at INTEGER,
  CONSTRAINT notifications_dedupe_key_key UNIQUE (dedupe_key)
);

CREATE INDEX notifications_created_idx ON notifications (created_at);
CREATE INDEX notifications_account_created_idx ON notifications (account_id, created_at);
CREATE INDEX notifications_unread_idx ON notifications (created_at) WHERE read_at IS NULL;

-- Who did what: token use, commands, SQL queries, migrations. token_id has no foreign key so the
-- trail outlives the token. Rows may be pruned (DELETE) but never edited.
CREATE TABLE audit_logs (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)),
  actor_kind TEXT NOT NULL CHECK (actor_kind IN ('token', 'cli', 'system')),
  token_id INTEGER,
  actor TEXT,
  action TEXT NOT NULL,
  target TEXT,
  outcome TEXT NOT NULL DEFAULT 'ok' CHECK (outcome IN ('ok', 'denied', 'error')),
  remote_addr TEXT,
  detail TEXT CHECK (detail IS NULL OR json_valid(detail))
);

CREATE INDEX audit_logs_at_idx ON audit_logs (at);
CREATE INDEX audit_logs_action_at_idx ON audit_logs (action, at);

CREATE TRIGGER audit_logs_append_only BEFORE UPDATE ON audit_logs
BEGIN
  SELECT RAISE(ABORT, 'audit_logs is append-only: rows cannot be updated');
END;

-- Engine metrics sampled per engine node (several engines may share one PostgreSQL); the key is
-- the idempotent sample identity and serves WHERE name = ? AND recorded_at BETWEEN ? AND ?.
CREATE TABLE system_metrics (
  name TEXT NOT NULL,
  recorded_at INTEGER NOT NULL,
  node TEXT NOT NULL,
  value REAL NOT NULL,
  labels TEXT CHECK (labels IS NULL OR json_valid(labels)),
  PRIMARY KEY (name, recorded_at, node)
) WITHOUT ROWID;

-- One row per EA decision-loop iteration the EA chose to log (what it evaluated and decided).
CREATE TABLE iteration_logs (
  id INTEGER PRIMARY KEY,
  stream_id INTEGER NOT NULL REFERENCES streams (id),
  time_msc INTEGER NOT NULL,
  iteration INTEGER,
  level TEXT NOT NULL DEFAULT 'info' CHECK (level IN ('debug', 'info', 'warning', 'error')),
  phase TEXT,
  duration_us INTEGER,
  message TEXT,
  data TEXT CHECK (data IS NULL OR json_valid(data)),
  received_at INTEGER NOT NULL DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER))
);

CREATE INDEX iteration_logs_stream_time_idx ON iteration_logs (stream_id, time_msc);
