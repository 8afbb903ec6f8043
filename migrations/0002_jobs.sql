-- Long work (backups, generation, quantization, exports) runs as persisted jobs so that progress survives a
-- reload and a crash leaves a clear record: resumed where the job kind can resume, failed with a reason otherwise.
CREATE TABLE jobs (
  id                INTEGER PRIMARY KEY,
  kind              TEXT    NOT NULL,
  title             TEXT    NOT NULL,
  params            TEXT    NOT NULL CHECK (json_valid(params)),
  status            TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  progress          REAL    CHECK (progress IS NULL OR (progress >= 0 AND progress <= 1)),
  progress_message  TEXT,
  -- A resumable kind's saved state, so a resumed run skips finished work.
  checkpoint        TEXT    CHECK (checkpoint IS NULL OR json_valid(checkpoint)),
  result            TEXT    CHECK (result IS NULL OR json_valid(result)),
  error             TEXT,
  attempts          INTEGER NOT NULL DEFAULT 0,
  cancel_requested  INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
  -- Which runner (process) owns a running job, and when it last said it was alive.
  owner_id          TEXT,
  owner_pid         INTEGER,
  heartbeat_at      INTEGER,
  created_at        TEXT    NOT NULL,
  started_at        TEXT,
  finished_at       TEXT,
  updated_at        TEXT    NOT NULL
) STRICT;

CREATE INDEX jobs_by_status ON jobs (status, id);
CREATE INDEX jobs_by_kind ON jobs (kind, id);

CREATE TABLE job_logs (
  job_id  INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  seq     INTEGER NOT NULL,
  level   TEXT    NOT NULL CHECK (level IN ('debug', 'info', 'warn', 'error')),
  message TEXT    NOT NULL,
  at      TEXT    NOT NULL,
  PRIMARY KEY (job_id, seq)
) STRICT, WITHOUT ROWID;
