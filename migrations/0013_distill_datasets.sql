-- Distillation datasets: examples gathered from sources, answered by a teacher, scored by a judge, reviewed by an
-- operator, and frozen into immutable versions that trainers read.

-- Gateway requests sent with `store: true` (OpenAI's stored completions) are dataset material; `metadata` is the
-- client's key/value tags, kept as sent. Older rows are not stored.
ALTER TABLE request_log ADD COLUMN stored INTEGER NOT NULL DEFAULT 0 CHECK (stored IN (0, 1));
ALTER TABLE request_log ADD COLUMN metadata TEXT CHECK (metadata IS NULL OR json_valid(metadata));
CREATE INDEX request_log_stored ON request_log (namespace_id, at) WHERE stored = 1;

CREATE TABLE distill_datasets (
  id          INTEGER PRIMARY KEY,
  name        TEXT    NOT NULL UNIQUE,
  tenant      TEXT    NOT NULL DEFAULT 'default',
  description TEXT,
  -- Every source added so far: [{kind, ..., added, duplicates, at}].
  sources     TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(sources)),
  -- The last teacher and judge that worked on it (what a version's card names).
  teacher     TEXT    CHECK (teacher IS NULL OR json_valid(teacher)),
  judge       TEXT    CHECK (judge IS NULL OR json_valid(judge)),
  created_at  TEXT    NOT NULL,
  updated_at  TEXT    NOT NULL
) STRICT;

-- One example: the prompt (chat messages before the answer), the answer, where it came from and its review state.
CREATE TABLE distill_examples (
  id            INTEGER PRIMARY KEY,
  dataset_id    INTEGER NOT NULL REFERENCES distill_datasets (id) ON DELETE CASCADE,
  source        TEXT    NOT NULL,
  source_ref    TEXT,
  prompt        TEXT    NOT NULL CHECK (json_valid(prompt)),
  -- sha256 of the normalised prompt text: exact duplicates are refused by the unique index (per sample).
  prompt_hash   TEXT    NOT NULL,
  sample        INTEGER NOT NULL DEFAULT 0 CHECK (sample >= 0),
  answer        TEXT,
  -- The answer before an operator edited it (the review's diff).
  original_answer TEXT,
  teacher       TEXT,
  -- Teacher-forced top-k log-probs per answer token, or null with the reason in logprobs_absent.
  logprobs      TEXT    CHECK (logprobs IS NULL OR json_valid(logprobs)),
  logprobs_absent TEXT,
  score         REAL,
  judge_reason  TEXT,
  state         TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'rejected')),
  split         TEXT    NOT NULL CHECK (split IN ('train', 'eval')),
  created_at    TEXT    NOT NULL,
  updated_at    TEXT    NOT NULL
) STRICT;
CREATE UNIQUE INDEX distill_examples_unique ON distill_examples (dataset_id, prompt_hash, sample);
CREATE INDEX distill_examples_state ON distill_examples (dataset_id, state);

-- A frozen dataset: its examples are copied, and neither the version nor its examples can change afterwards.
CREATE TABLE distill_dataset_versions (
  id           INTEGER PRIMARY KEY,
  dataset_id   INTEGER NOT NULL REFERENCES distill_datasets (id) ON DELETE CASCADE,
  version      INTEGER NOT NULL CHECK (version >= 1),
  content_hash TEXT    NOT NULL CHECK (length(content_hash) = 64),
  train_count  INTEGER NOT NULL,
  eval_count   INTEGER NOT NULL,
  with_logprobs INTEGER NOT NULL,
  -- Sources, teacher, judge, counts, note: what a reader of the export needs to know.
  card         TEXT    NOT NULL CHECK (json_valid(card)),
  created_at   TEXT    NOT NULL,
  UNIQUE (dataset_id, version)
) STRICT;

CREATE TABLE distill_version_examples (
  version_id INTEGER NOT NULL REFERENCES distill_dataset_versions (id) ON DELETE CASCADE,
  seq        INTEGER NOT NULL,
  split      TEXT    NOT NULL CHECK (split IN ('train', 'eval')),
  messages   TEXT    NOT NULL CHECK (json_valid(messages)),
  logprobs   TEXT    CHECK (logprobs IS NULL OR json_valid(logprobs)),
  PRIMARY KEY (version_id, seq)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER distill_versions_immutable BEFORE UPDATE ON distill_dataset_versions
BEGIN SELECT RAISE(ABORT, 'dataset versions are immutable'); END;
CREATE TRIGGER distill_version_examples_immutable BEFORE UPDATE ON distill_version_examples
BEGIN SELECT RAISE(ABORT, 'dataset versions are immutable'); END;
