-- A LoRA adapter in the model library names the base model it is served on (llama.cpp loads the base and applies
-- the adapter to the context). NULL: a full model. A base cannot be removed while adapters name it.
ALTER TABLE models ADD COLUMN base_model_id INTEGER REFERENCES models(id) ON DELETE RESTRICT;
CREATE INDEX models_base_model ON models(base_model_id) WHERE base_model_id IS NOT NULL;
