-- Distillation: training runs of the built-in trainer, their curves and checkpoints, and where a model came from.
CREATE TABLE distill_runs (
  id            INTEGER PRIMARY KEY,
  -- The job that trains it (status, progress and error live there).
  job_id        INTEGER REFERENCES jobs (id) ON DELETE SET NULL,
  -- Name of the trained model in the library.
  name          TEXT    NOT NULL,
  trainer       TEXT    NOT NULL DEFAULT 'builtin',
  -- What the operator asked for: {"modelId"}, {"path"} or {"scratch": {...}}; and a label for it.
  student       TEXT    NOT NULL CHECK (json_valid(student)),
  student_label TEXT    NOT NULL,
  base_model_id INTEGER REFERENCES models (id) ON DELETE SET NULL,
  data_path     TEXT    NOT NULL,
  data_sha256   TEXT    CHECK (data_sha256 IS NULL OR length(data_sha256) = 64),
  data_format   TEXT    CHECK (data_format IS NULL OR data_format IN ('chat', 'text')),
  hyperparameters TEXT  NOT NULL CHECK (json_valid(hyperparameters)),
  quantize      TEXT,
  -- What the trainer made of the data (examples, tokens, windows, skipped lines), once known.
  prepared      TEXT    CHECK (prepared IS NULL OR json_valid(prepared)),
  -- Final metrics, samples and the model it produced.
  result        TEXT    CHECK (result IS NULL OR json_valid(result)),
  model_id      INTEGER REFERENCES models (id) ON DELETE SET NULL,
  quantized_model_id INTEGER REFERENCES models (id) ON DELETE SET NULL,
  created_at    TEXT    NOT NULL,
  updated_at    TEXT    NOT NULL
) STRICT;
CREATE INDEX distill_runs_job ON distill_runs (job_id);

-- One row per training step (loss, accuracy, learning rate, tokens/s) and per evaluation (validation and answers).
CREATE TABLE distill_points (
  run_id            INTEGER NOT NULL REFERENCES distill_runs (id) ON DELETE CASCADE,
  seq               INTEGER NOT NULL,
  step              INTEGER NOT NULL,
  epoch             REAL    NOT NULL,
  loss              REAL,
  accuracy          REAL,
  lr                REAL,
  tokens_per_second REAL,
  val_loss          REAL,
  val_accuracy      REAL,
  answer_accuracy   REAL,
  answer_loss       REAL,
  PRIMARY KEY (run_id, seq)
) STRICT;
CREATE INDEX distill_points_step ON distill_points (run_id, step);

-- A checkpoint GGUF per epoch; a resumed run continues from the last one.
CREATE TABLE distill_checkpoints (
  run_id     INTEGER NOT NULL REFERENCES distill_runs (id) ON DELETE CASCADE,
  step       INTEGER NOT NULL,
  epoch      REAL    NOT NULL,
  path       TEXT    NOT NULL,
  bytes      INTEGER NOT NULL,
  val_loss   REAL,
  created_at TEXT    NOT NULL,
  PRIMARY KEY (run_id, step)
) STRICT;

-- Where a model came from when Larder made it (a distillation run: base, dataset hash, hyperparameters, metrics).
ALTER TABLE models ADD COLUMN provenance TEXT CHECK (provenance IS NULL OR json_valid(provenance));
