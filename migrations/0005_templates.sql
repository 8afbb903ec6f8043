-- Template families, their generated and reviewed variants, generation runs, published versions, and CDN exports.

-- A family: slots, segments, constraints and generation settings (the documented family JSON, validated by the
-- contract before it is stored). `revision` counts saved changes; `published_version` is the newest version.
CREATE TABLE template_families (
  id                INTEGER PRIMARY KEY,
  name              TEXT    NOT NULL UNIQUE,
  definition        TEXT    NOT NULL CHECK (json_valid(definition)),
  revision          INTEGER NOT NULL DEFAULT 1 CHECK (revision >= 1),
  published_version INTEGER CHECK (published_version IS NULL OR published_version >= 1),
  created_at        TEXT    NOT NULL,
  updated_at        TEXT    NOT NULL
) STRICT;

-- One generation job's work on a family. A resumed job continues the same run.
CREATE TABLE template_generation_runs (
  id              INTEGER PRIMARY KEY,
  family_id       INTEGER NOT NULL REFERENCES template_families (id) ON DELETE CASCADE,
  job_id          INTEGER REFERENCES jobs (id) ON DELETE SET NULL,
  -- The model or provider by name, as the operator knows it.
  target          TEXT    NOT NULL,
  mode            TEXT    NOT NULL CHECK (mode IN ('fill', 'add')),
  planned_calls   INTEGER NOT NULL CHECK (planned_calls >= 0),
  family_revision INTEGER NOT NULL,
  status          TEXT    NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
  created_at      TEXT    NOT NULL,
  finished_at     TEXT
) STRICT;

-- A segment's totals, written in the same transaction as its last variant: a row here means the segment is done.
-- (Each answer is committed as a variant as soon as it arrives, so a resumed job regenerates nothing it has.)
CREATE TABLE template_generation_segments (
  run_id        INTEGER NOT NULL REFERENCES template_generation_runs (id) ON DELETE CASCADE,
  segment_key   TEXT    NOT NULL,
  requested     INTEGER NOT NULL,
  accepted      INTEGER NOT NULL,
  rejected      INTEGER NOT NULL,
  tokens_in     INTEGER NOT NULL,
  tokens_out    INTEGER NOT NULL,
  generation_ms REAL    NOT NULL,
  wall_ms       REAL    NOT NULL,
  finished_at   TEXT    NOT NULL,
  PRIMARY KEY (run_id, segment_key)
) STRICT, WITHOUT ROWID;

CREATE TABLE template_variants (
  id          INTEGER PRIMARY KEY,
  family_id   INTEGER NOT NULL REFERENCES template_families (id) ON DELETE CASCADE,
  segment_key TEXT    NOT NULL,
  -- Canonical Mustache (slot escaping applied); for a rejected output, its text as far as it could be read.
  template    TEXT    NOT NULL,
  -- The model's answer, verbatim.
  raw_output  TEXT,
  state       TEXT    NOT NULL CHECK (state IN ('draft', 'approved', 'rejected')),
  -- Why it was rejected: [{code, message, slot?}].
  rejection   TEXT    CHECK (rejection IS NULL OR json_valid(rejection)),
  origin      TEXT    NOT NULL CHECK (origin IN ('generated', 'edited', 'manual', 'imported')),
  weight      REAL    NOT NULL DEFAULT 1 CHECK (weight >= 0),
  run_id      INTEGER REFERENCES template_generation_runs (id) ON DELETE SET NULL,
  seed        INTEGER,
  tokens_in   INTEGER,
  tokens_out  INTEGER,
  -- Model time for this answer.
  generation_ms REAL,
  created_at  TEXT    NOT NULL,
  updated_at  TEXT    NOT NULL
) STRICT;

CREATE INDEX template_variants_by_segment ON template_variants (family_id, segment_key, state);
CREATE INDEX template_variants_by_run ON template_variants (run_id, segment_key);

-- Publishing snapshots the definition and the approved variants; the CDN export reads only these.
CREATE TABLE template_versions (
  family_id     INTEGER NOT NULL REFERENCES template_families (id) ON DELETE CASCADE,
  version       INTEGER NOT NULL CHECK (version >= 1),
  definition    TEXT    NOT NULL CHECK (json_valid(definition)),
  -- [{id, segmentKey, template, weight}]
  variants      TEXT    NOT NULL CHECK (json_valid(variants)),
  variant_count INTEGER NOT NULL,
  content_hash  TEXT    NOT NULL,
  note          TEXT,
  published_at  TEXT    NOT NULL,
  PRIMARY KEY (family_id, version)
) STRICT, WITHOUT ROWID;

-- Identifies this workspace in export manifests, so `--since` refuses a manifest written by another workspace.
CREATE TABLE export_identity (
  id           INTEGER PRIMARY KEY CHECK (id = 1),
  workspace_id TEXT    NOT NULL,
  created_at   TEXT    NOT NULL
) STRICT;

INSERT INTO export_identity (id, workspace_id, created_at)
VALUES (1, lower(hex(randomblob(16))), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));

CREATE TABLE cdn_exports (
  id                     INTEGER PRIMARY KEY,
  job_id                 INTEGER REFERENCES jobs (id) ON DELETE SET NULL,
  -- The manifest's version: 1, 2, ... per workspace.
  sequence               INTEGER NOT NULL UNIQUE CHECK (sequence >= 1),
  out_dir                TEXT    NOT NULL,
  tar_path               TEXT,
  manifest_hash          TEXT    NOT NULL,
  previous_manifest_hash TEXT,
  -- The namespace filter, or NULL for all.
  namespaces             TEXT    CHECK (namespaces IS NULL OR json_valid(namespaces)),
  counts                 TEXT    NOT NULL CHECK (json_valid(counts)),
  created_at             TEXT    NOT NULL
) STRICT;
