-- Defaults that explain themselves.

-- Why a gateway request was not answered from the cache, in words an operator can act on: nothing stored for it, a
-- draft the namespace does not serve (approved-only mode), a rejected or expired entry, a semantic match a guard
-- refused, an entry for the same prompt with other answer-changing parameters, or the client's no-cache. Null for
-- hits, errors, imported lines and rows logged before this migration.
ALTER TABLE request_log ADD COLUMN reason TEXT CHECK (reason IS NULL OR reason IN
  ('no-entry', 'draft-not-served', 'rejected', 'expired', 'guard-refused', 'params-differ', 'bypass'));

-- Entries with the same prompt are found by their prompt's beginning (then compared in full): "params differ" on a
-- miss, and the entry drawer's list of the other entries for one prompt. An expression index, so existing rows are
-- covered without a backfill.
CREATE INDEX cache_entries_by_prompt ON cache_entries (namespace_id, substr(prompt_text, 1, 120));

-- A quantized model keeps its quality report against the original (KL divergence, top-1 agreement, perplexity,
-- sizes, the verdict's inputs), so the report outlives the job's drawer. Null for other models and before a report.
ALTER TABLE models ADD COLUMN quality TEXT CHECK (quality IS NULL OR json_valid(quality));

-- Namespaces: serving drafts until they are curated is now the default for new namespaces (the service passes the
-- policy explicitly, so the column's old default is unused). Existing namespaces keep the policy they have: a
-- server that served approved answers only must not start serving unreviewed ones because Larder was upgraded.
