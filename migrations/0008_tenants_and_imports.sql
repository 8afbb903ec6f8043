-- Pipelines belong to a tenant: a gateway key runs only its tenant's pipelines, and a pipeline's cache nodes may
-- only use that tenant's namespaces. Pipelines saved before this migration belong to the tenant "default".
ALTER TABLE pipelines ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
CREATE INDEX pipelines_by_tenant ON pipelines (tenant, name);

-- Request-log imports, by file content and namespace: a checkpoint written in the same transaction as each batch of
-- rows, so an interrupted import resumes after the last committed record and a finished one is not counted twice.
CREATE TABLE log_imports (
  id           INTEGER PRIMARY KEY,
  namespace_id INTEGER NOT NULL REFERENCES cache_namespaces (id) ON DELETE CASCADE,
  -- SHA-256 of the file's bytes: the same content under another name is the same import.
  file_sha256  TEXT    NOT NULL CHECK (length(file_sha256) = 64),
  path         TEXT    NOT NULL,
  format       TEXT    NOT NULL CHECK (format IN ('jsonl', 'csv')),
  -- Records (JSONL lines, CSV rows) read and committed so far, good or bad; a resumed import skips these.
  records_done INTEGER NOT NULL DEFAULT 0 CHECK (records_done >= 0),
  imported     INTEGER NOT NULL DEFAULT 0,
  skipped      INTEGER NOT NULL DEFAULT 0,
  -- The first reported bad lines: [{line, message}].
  problems     TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(problems)),
  status       TEXT    NOT NULL CHECK (status IN ('running', 'done')),
  started_at   TEXT    NOT NULL,
  updated_at   TEXT    NOT NULL,
  UNIQUE (namespace_id, file_sha256)
) STRICT;
