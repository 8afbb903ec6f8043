-- Promotions of a student to a pipeline node or a template family as well as a cache namespace, and of a provider
-- (an OpenAI-compatible endpoint, e.g. a remote fine-tune) as well as a registered model: the student is either a
-- model or a provider, so model_id/model_name become nullable next to provider_id/provider_name. SQLite cannot drop
-- NOT NULL in place: the table is rebuilt with its rows (nothing references it).
CREATE TABLE distill_promotions_next (
  id             INTEGER PRIMARY KEY,
  -- {"namespaceId": n}, {"pipelineId": n, "nodeId": "..."} or {"familyId": n}: what was switched to the student.
  target         TEXT    NOT NULL CHECK (json_valid(target)),
  target_label   TEXT    NOT NULL,
  model_id       INTEGER,
  model_name     TEXT,
  provider_id    INTEGER,
  provider_name  TEXT,
  evaluation_id  INTEGER REFERENCES distill_evaluations (id) ON DELETE SET NULL,
  -- The report's gate verdict for this student (NULL: promoted without a report, which needs an override).
  gate_passed    INTEGER CHECK (gate_passed IS NULL OR gate_passed IN (0, 1)),
  override       TEXT,
  -- The target's previous setting, restored by a rollback.
  previous       TEXT    NOT NULL CHECK (json_valid(previous)),
  actor          TEXT    NOT NULL,
  created_at     TEXT    NOT NULL,
  rolled_back_at TEXT,
  rolled_back_by TEXT,
  -- Exactly one student: a model (with its name) or a provider (with its name).
  CHECK ((model_id IS NOT NULL AND model_name IS NOT NULL AND provider_id IS NULL AND provider_name IS NULL)
      OR (model_id IS NULL AND model_name IS NULL AND provider_id IS NOT NULL AND provider_name IS NOT NULL))
) STRICT;
INSERT INTO distill_promotions_next (id, target, target_label, model_id, model_name, evaluation_id, gate_passed,
    override, previous, actor, created_at, rolled_back_at, rolled_back_by)
  SELECT id, target, target_label, model_id, model_name, evaluation_id, gate_passed, override, previous, actor,
    created_at, rolled_back_at, rolled_back_by
  FROM distill_promotions;
DROP TABLE distill_promotions;
ALTER TABLE distill_promotions_next RENAME TO distill_promotions;
CREATE INDEX distill_promotions_target ON distill_promotions (target, created_at);
