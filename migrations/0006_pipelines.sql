-- Agent pipelines: graphs of small models, versioned on every save, with a trace of every run.
CREATE TABLE pipelines (
  id              INTEGER PRIMARY KEY,
  name            TEXT    NOT NULL UNIQUE,
  description     TEXT    NOT NULL DEFAULT '',
  current_version INTEGER NOT NULL,
  created_at      TEXT    NOT NULL,
  updated_at      TEXT    NOT NULL
) STRICT;

CREATE TABLE pipeline_versions (
  pipeline_id INTEGER NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
  version     INTEGER NOT NULL,
  -- The graph in the documented export format (docs/pipelines.md).
  definition  TEXT    NOT NULL CHECK (json_valid(definition)),
  note        TEXT,
  created_at  TEXT    NOT NULL,
  PRIMARY KEY (pipeline_id, version)
) STRICT, WITHOUT ROWID;

CREATE TABLE pipeline_runs (
  id          INTEGER PRIMARY KEY,
  pipeline_id INTEGER NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
  version     INTEGER NOT NULL,
  job_id      INTEGER,
  -- 'console', 'cli' or 'gateway'.
  source      TEXT    NOT NULL,
  status      TEXT    NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
  input       TEXT    NOT NULL CHECK (json_valid(input)),
  output      TEXT,
  error       TEXT,
  -- Per node: inputs, outputs, model, tokens, latency, iterations; and the path taken.
  trace       TEXT    NOT NULL CHECK (json_valid(trace)),
  tokens_in   INTEGER NOT NULL DEFAULT 0,
  tokens_out  INTEGER NOT NULL DEFAULT 0,
  started_at  TEXT    NOT NULL,
  finished_at TEXT
) STRICT;

CREATE INDEX pipeline_runs_by_pipeline ON pipeline_runs (pipeline_id, id);

-- The token ledger: one row per model call, for totals per node and per model across runs.
CREATE TABLE pipeline_usage (
  run_id     INTEGER NOT NULL REFERENCES pipeline_runs (id) ON DELETE CASCADE,
  node_id    TEXT    NOT NULL,
  model      TEXT    NOT NULL,
  tokens_in  INTEGER NOT NULL,
  tokens_out INTEGER NOT NULL,
  latency_ms REAL    NOT NULL,
  at         TEXT    NOT NULL
) STRICT;

CREATE INDEX pipeline_usage_by_model ON pipeline_usage (model);
