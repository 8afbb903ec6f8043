-- The curated response cache, the gateway's request log and API keys.

-- A namespace scopes entries (per tenant); lookups never cross namespaces. Its settings are the serving policy.
CREATE TABLE cache_namespaces (
  id                   INTEGER PRIMARY KEY,
  tenant               TEXT    NOT NULL DEFAULT 'default',
  name                 TEXT    NOT NULL,
  -- Serve approved entries only (0), or approved and draft (1).
  serve_drafts         INTEGER NOT NULL DEFAULT 0 CHECK (serve_drafts IN (0, 1)),
  -- State given to answers generated live on a miss.
  store_as             TEXT    NOT NULL DEFAULT 'draft' CHECK (store_as IN ('draft', 'approved', 'none')),
  -- Key normalisation rules: {whitespace, case, nfkc, punctuation}.
  normalization        TEXT    NOT NULL CHECK (json_valid(normalization)),
  semantic_enabled     INTEGER NOT NULL DEFAULT 0 CHECK (semantic_enabled IN (0, 1)),
  -- Where embeddings come from: {"model": id} or {"provider": id}.
  embedder             TEXT    CHECK (embedder IS NULL OR json_valid(embedder)),
  embedder_version     TEXT,
  similarity_threshold REAL    NOT NULL DEFAULT 0.92 CHECK (similarity_threshold > 0 AND similarity_threshold <= 1),
  -- False-hit guards for semantic matches: {negation, numbers, antonyms}.
  guards               TEXT    NOT NULL CHECK (json_valid(guards)),
  -- Live generation on a miss: {"model": id} or {"provider": id}.
  generation_target    TEXT    CHECK (generation_target IS NULL OR json_valid(generation_target)),
  model_label          TEXT,
  prompt_version       TEXT,
  -- When the model or prompt version changes: 'none', 'draft' (demote to draft) or 'delete'.
  on_change            TEXT    NOT NULL DEFAULT 'draft' CHECK (on_change IN ('none', 'draft', 'delete')),
  default_ttl_seconds  INTEGER CHECK (default_ttl_seconds IS NULL OR default_ttl_seconds > 0),
  created_at           TEXT    NOT NULL,
  updated_at           TEXT    NOT NULL,
  UNIQUE (tenant, name)
) STRICT;

CREATE TABLE cache_entries (
  id               INTEGER PRIMARY KEY,
  namespace_id     INTEGER NOT NULL REFERENCES cache_namespaces (id) ON DELETE CASCADE,
  -- sha256 of the canonical request; also the entry's address in a CDN export.
  key_hash         TEXT    NOT NULL,
  canonical        TEXT    NOT NULL CHECK (json_valid(canonical)),
  -- The request flattened to text, for display and full-text search.
  prompt_text      TEXT    NOT NULL,
  answer           TEXT    NOT NULL,
  state            TEXT    NOT NULL CHECK (state IN ('draft', 'approved', 'rejected')),
  pinned           INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1)),
  expires_at       TEXT,
  hit_count        INTEGER NOT NULL DEFAULT 0,
  last_hit_at      TEXT,
  -- Provenance.
  model            TEXT,
  model_file_hash  TEXT,
  prompt_version   TEXT,
  embedder_version TEXT,
  params           TEXT    CHECK (params IS NULL OR json_valid(params)),
  created_by       TEXT    NOT NULL CHECK (created_by IN ('generated', 'imported', 'edited', 'prewarm')),
  tokens_in        INTEGER,
  tokens_out       INTEGER,
  created_at       TEXT    NOT NULL,
  updated_at       TEXT    NOT NULL,
  UNIQUE (namespace_id, key_hash)
) STRICT;

CREATE INDEX cache_entries_by_state ON cache_entries (namespace_id, state);

-- Every change of an answer, so edits can be diffed and reverted.
CREATE TABLE cache_entry_versions (
  entry_id   INTEGER NOT NULL REFERENCES cache_entries (id) ON DELETE CASCADE,
  version    INTEGER NOT NULL,
  answer     TEXT    NOT NULL,
  state      TEXT    NOT NULL,
  changed_by TEXT    NOT NULL,
  note       TEXT,
  created_at TEXT    NOT NULL,
  PRIMARY KEY (entry_id, version)
) STRICT, WITHOUT ROWID;

-- Embeddings for semantic lookups (float32 blobs, compared with sqlite-vec's distance functions).
CREATE TABLE cache_vectors (
  entry_id INTEGER PRIMARY KEY REFERENCES cache_entries (id) ON DELETE CASCADE,
  dims     INTEGER NOT NULL,
  vector   BLOB    NOT NULL
) STRICT;

-- Full-text search over prompts and answers.
CREATE VIRTUAL TABLE cache_fts USING fts5 (
  prompt_text, answer, content = 'cache_entries', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER cache_entries_fts_insert AFTER INSERT ON cache_entries BEGIN
  INSERT INTO cache_fts (rowid, prompt_text, answer) VALUES (new.id, new.prompt_text, new.answer);
END;
CREATE TRIGGER cache_entries_fts_delete AFTER DELETE ON cache_entries BEGIN
  INSERT INTO cache_fts (cache_fts, rowid, prompt_text, answer) VALUES ('delete', old.id, old.prompt_text, old.answer);
END;
CREATE TRIGGER cache_entries_fts_update AFTER UPDATE OF prompt_text, answer ON cache_entries BEGIN
  INSERT INTO cache_fts (cache_fts, rowid, prompt_text, answer) VALUES ('delete', old.id, old.prompt_text, old.answer);
  INSERT INTO cache_fts (rowid, prompt_text, answer) VALUES (new.id, new.prompt_text, new.answer);
END;

-- Every gateway request (and imported log lines): the data behind coverage analytics and pre-warm.
CREATE TABLE request_log (
  id            INTEGER PRIMARY KEY,
  at            TEXT    NOT NULL,
  namespace_id  INTEGER REFERENCES cache_namespaces (id) ON DELETE SET NULL,
  tenant        TEXT    NOT NULL DEFAULT 'default',
  key_hash      TEXT    NOT NULL,
  canonical     TEXT    CHECK (canonical IS NULL OR json_valid(canonical)),
  prompt_text   TEXT,
  hit_kind      TEXT    NOT NULL CHECK (hit_kind IN ('hit-exact', 'hit-semantic', 'miss', 'bypass', 'error')),
  similarity    REAL,
  entry_id      INTEGER,
  latency_ms    REAL,
  tokens_in     INTEGER,
  tokens_out    INTEGER,
  cost_estimate REAL,
  source        TEXT    NOT NULL DEFAULT 'gateway' CHECK (source IN ('gateway', 'import'))
) STRICT;

CREATE INDEX request_log_by_key ON request_log (namespace_id, key_hash);
CREATE INDEX request_log_by_time ON request_log (at);

-- Gateway API keys map to tenants; only a hash of each key is kept.
CREATE TABLE gateway_keys (
  id           INTEGER PRIMARY KEY,
  tenant       TEXT    NOT NULL,
  label        TEXT,
  key_hash     TEXT    NOT NULL UNIQUE,
  key_prefix   TEXT    NOT NULL,
  created_at   TEXT    NOT NULL,
  last_used_at TEXT,
  revoked_at   TEXT
) STRICT;
