-- The model library: GGUF files Larder knows about, with what their headers say (read without loading weights).
CREATE TABLE models (
  id              INTEGER PRIMARY KEY,
  name            TEXT    NOT NULL UNIQUE,
  path            TEXT    NOT NULL UNIQUE,
  -- file: registered where it lies; library: found in <home>/models; download: pulled; quantized: made by Larder.
  source          TEXT    NOT NULL CHECK (source IN ('file', 'library', 'download', 'quantized')),
  source_uri      TEXT,
  size_bytes      INTEGER NOT NULL,
  file_modified_at TEXT   NOT NULL,
  architecture    TEXT,
  parameter_count INTEGER,
  context_length  INTEGER,
  file_type       TEXT,
  -- The full header summary: tensor types, tokenizer, chat template presence...
  summary         TEXT    NOT NULL CHECK (json_valid(summary)),
  -- Validation findings (errors block loading; warnings are shown).
  problems        TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(problems)),
  added_at        TEXT    NOT NULL,
  updated_at      TEXT    NOT NULL
) STRICT;

-- OpenAI-compatible endpoints (vLLM, llama.cpp server, Ollama, hosted APIs) for work past one machine.
CREATE TABLE providers (
  id          INTEGER PRIMARY KEY,
  name        TEXT    NOT NULL UNIQUE,
  kind        TEXT    NOT NULL CHECK (kind IN ('openai')),
  base_url    TEXT    NOT NULL,
  api_key     TEXT,
  model       TEXT    NOT NULL,
  concurrency INTEGER NOT NULL DEFAULT 4 CHECK (concurrency BETWEEN 1 AND 1024),
  created_at  TEXT    NOT NULL,
  updated_at  TEXT    NOT NULL
) STRICT;
