-- Distillation II: evaluation reports (students against their teacher, with a gate verdict) and promotions of a
-- student to serving (what it replaced, who, when, on which report; a rollback restores the previous target).
CREATE TABLE distill_evaluations (
  id         INTEGER PRIMARY KEY,
  job_id     INTEGER REFERENCES jobs (id) ON DELETE SET NULL,
  name       TEXT    NOT NULL,
  data_path  TEXT    NOT NULL,
  input      TEXT    NOT NULL CHECK (json_valid(input)),
  report     TEXT    CHECK (report IS NULL OR json_valid(report)),
  created_at TEXT    NOT NULL
) STRICT;
CREATE INDEX distill_evaluations_job ON distill_evaluations (job_id);

CREATE TABLE distill_promotions (
  id             INTEGER PRIMARY KEY,
  -- {"namespaceId": n}: what was switched to the student.
  target         TEXT    NOT NULL CHECK (json_valid(target)),
  target_label   TEXT    NOT NULL,
  model_id       INTEGER NOT NULL,
  model_name     TEXT    NOT NULL,
  evaluation_id  INTEGER REFERENCES distill_evaluations (id) ON DELETE SET NULL,
  -- The report's gate verdict for this model (NULL: promoted without a report, which needs an override).
  gate_passed    INTEGER CHECK (gate_passed IS NULL OR gate_passed IN (0, 1)),
  override       TEXT,
  -- The target's previous setting, restored by a rollback.
  previous       TEXT    NOT NULL CHECK (json_valid(previous)),
  actor          TEXT    NOT NULL,
  created_at     TEXT    NOT NULL,
  rolled_back_at TEXT,
  rolled_back_by TEXT
) STRICT;
CREATE INDEX distill_promotions_target ON distill_promotions (target, created_at);

-- The gateway's OpenAI-compatible fine-tuning API: uploaded files and fine-tuning jobs, each owned by the tenant of
-- the gateway key that made it (a job is a distill.train run).
CREATE TABLE fine_tuning_files (
  id         INTEGER PRIMARY KEY,
  tenant     TEXT    NOT NULL,
  filename   TEXT    NOT NULL,
  purpose    TEXT    NOT NULL,
  path       TEXT    NOT NULL,
  bytes      INTEGER NOT NULL,
  created_at TEXT    NOT NULL
) STRICT;
CREATE INDEX fine_tuning_files_tenant ON fine_tuning_files (tenant, id);

CREATE TABLE fine_tuning_jobs (
  id              INTEGER PRIMARY KEY,
  tenant          TEXT    NOT NULL,
  run_id          INTEGER NOT NULL REFERENCES distill_runs (id) ON DELETE CASCADE,
  model           TEXT    NOT NULL,
  training_file   INTEGER NOT NULL REFERENCES fine_tuning_files (id),
  validation_file INTEGER REFERENCES fine_tuning_files (id),
  suffix          TEXT,
  seed            INTEGER NOT NULL,
  created_at      TEXT    NOT NULL
) STRICT;
CREATE INDEX fine_tuning_jobs_tenant ON fine_tuning_jobs (tenant, id);
