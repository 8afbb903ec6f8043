-- Deployments of CDN bundles to object storage (s3://bucket/prefix on AWS S3, R2, MinIO, ...).

-- Every switch of a target's live manifest: a deploy (objects, worker, then the manifest last) or a rollback (one
-- write of an earlier manifest). Which version is live where comes from the newest row per target; the grace period
-- before dropped objects are deleted is measured from the row that replaced the manifest naming them.
CREATE TABLE cdn_deployments (
  id INTEGER PRIMARY KEY,
  job_id INTEGER REFERENCES jobs (id) ON DELETE SET NULL,
  target TEXT NOT NULL,
  endpoint TEXT,
  action TEXT NOT NULL CHECK (action IN ('deploy', 'rollback')),
  version INTEGER NOT NULL,
  manifest_hash TEXT NOT NULL,
  previous_manifest_hash TEXT,
  tenant TEXT,
  -- Objects the live manifest names (for the grace period and the diff to the next deployment).
  objects TEXT NOT NULL CHECK (json_valid(objects)),
  counts TEXT NOT NULL CHECK (json_valid(counts)),
  uploaded INTEGER NOT NULL DEFAULT 0,
  deleted INTEGER NOT NULL DEFAULT 0,
  verify TEXT CHECK (verify IS NULL OR json_valid(verify)),
  deployed_by TEXT NOT NULL,
  deployed_at TEXT NOT NULL
);
CREATE INDEX cdn_deployments_by_target ON cdn_deployments (target, id);

-- Saved targets for the console: the secret key is encrypted at rest (AES-256-GCM with a key file kept beside the
-- database, never in it), so a copied database alone does not leak it.
CREATE TABLE cdn_targets (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  url TEXT NOT NULL,
  endpoint TEXT,
  region TEXT,
  access_key_id TEXT,
  secret_encrypted TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
