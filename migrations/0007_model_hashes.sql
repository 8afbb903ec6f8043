-- The SHA-256 of each model file, recorded as provenance on the answers it generates (computed by a background job,
-- since hashing a multi-GB file takes a while).
ALTER TABLE models ADD COLUMN sha256 TEXT CHECK (sha256 IS NULL OR length(sha256) = 64);
