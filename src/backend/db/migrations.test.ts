import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { tempDir } from '../../../test/helpers'
import { openDatabase } from './database'
import { WorkspaceError } from './errors'
import { checksumOf, defaultMigrationsDir, loadMigrations, migrate, migrationStatus } from './migrations'

const migrations = loadMigrations(defaultMigrationsDir())

function freshDb() {
  return openDatabase(join(tempDir(), 'larder.db'))
}

function tables(db: ReturnType<typeof freshDb>): string[] {
  return db.prepare(`SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`).pluck().all() as string[]
}

describe('migrations runner', () => {
  it('applies every migration in order, once, recording checksums', () => {
    const db = freshDb()
    const applied = migrate(db, migrations)
    expect(applied.map((m) => m.version)).toEqual(migrations.map((m) => m.version))
    expect(migrate(db, migrations)).toEqual([])
    const status = migrationStatus(db, migrations)
    expect(status.current).toBe(migrations.length)
    expect(status.pending).toEqual([])
    expect(status.applied.map((m) => m.checksum)).toEqual(migrations.map((m) => m.checksum))
  })

  it('refuses a database whose applied migration was edited', () => {
    const db = freshDb()
    migrate(db, migrations)
    const edited = migrations.map((m, i) =>
      i === 0 ? { ...m, sql: m.sql + '\n-- edited', checksum: checksumOf(m.sql + '\n-- edited') } : m,
    )
    expect(() => migrationStatus(db, edited)).toThrowError(/0001_settings\.sql was changed after it was applied/)
    expect(() => migrate(db, edited)).toThrowError(WorkspaceError)
  })

  it('refuses a database migrated by a newer Larder', () => {
    const db = freshDb()
    migrate(db, migrations)
    db.prepare(`INSERT INTO schema_migrations VALUES (?, 'from_the_future', 'x', '2030-01-01')`).run(
      migrations.length + 1,
    )
    try {
      migrationStatus(db, migrations)
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(WorkspaceError)
      expect((error as WorkspaceError).code).toBe('database_newer')
      expect((error as Error).message).toMatch(
        new RegExp(
          `newer Larder \\(schema version ${migrations.length + 1}; this app knows up to ${migrations.length}\\)`,
        ),
      )
    }
  })

  it('rolls back a failing migration completely and says which one', () => {
    const dir = tempDir()
    for (const file of readdirSync(defaultMigrationsDir()))
      copyFileSync(join(defaultMigrationsDir(), file), join(dir, file))
    const brokenName = `${String(migrations.length + 1).padStart(4, '0')}_broken.sql`
    writeFileSync(join(dir, brokenName), 'CREATE TABLE half_done (id INTEGER);\nTHIS IS NOT SQL;')
    const withBroken = loadMigrations(dir)
    const db = freshDb()
    expect(() => migrate(db, withBroken)).toThrowError(new RegExp(`${brokenName} failed and was rolled back`))
    expect(tables(db)).not.toContain('half_done')
    expect(migrationStatus(db, withBroken).current).toBe(migrations.length)
  })

  it('ignores line-ending style in checksums, so Windows checkouts match', () => {
    expect(checksumOf('a\r\nb\r\n')).toBe(checksumOf('a\nb\n'))
  })

  it('rejects badly named or gapped migration files', () => {
    const gapped = tempDir()
    writeFileSync(join(gapped, '0001_a.sql'), 'SELECT 1;')
    writeFileSync(join(gapped, '0003_c.sql'), 'SELECT 1;')
    expect(() => loadMigrations(gapped)).toThrowError(/without gaps/)
    const badName = tempDir()
    writeFileSync(join(badName, '1_Init.sql'), 'SELECT 1;')
    expect(() => loadMigrations(badName)).toThrowError(/NNNN_name\.sql/)
    const missing = join(tempDir(), 'nope')
    expect(() => loadMigrations(missing)).toThrowError(/does not exist/)
    mkdirSync(missing)
  })
})

// One test per migration: migrate to N-1, write rows the way the old schema allowed, migrate to N, check.
describe('0001_settings', () => {
  it('creates settings with JSON-checked values', () => {
    const db = freshDb()
    migrate(db, migrations, 1)
    db.prepare(`INSERT INTO settings VALUES ('theme', '"dark"', '2026-01-01')`).run()
    expect(() => db.prepare(`INSERT INTO settings VALUES ('bad', 'not json', '2026-01-01')`).run()).toThrowError(
      /CHECK/,
    )
  })
})

describe('0002_jobs', () => {
  it('adds jobs and job_logs without touching existing settings', () => {
    const db = freshDb()
    migrate(db, migrations, 1)
    db.prepare(`INSERT INTO settings VALUES ('language', '"ko"', '2026-01-01')`).run()
    migrate(db, migrations, 2)
    expect(db.prepare(`SELECT value FROM settings WHERE key = 'language'`).pluck().get()).toBe('"ko"')
    const now = new Date().toISOString()
    const id = db
      .prepare(
        `INSERT INTO jobs (kind, title, params, status, created_at, updated_at) VALUES ('k', 't', '{}', 'queued', ?, ?)`,
      )
      .run(now, now).lastInsertRowid
    db.prepare(`INSERT INTO job_logs VALUES (?, 1, 'info', 'hello', ?)`).run(id, now)
    expect(() =>
      db
        .prepare(
          `INSERT INTO jobs (kind, title, params, status, created_at, updated_at) VALUES ('k', 't', '{}', 'weird', ?, ?)`,
        )
        .run(now, now),
    ).toThrowError(/CHECK/)
    // Logs go with their job (foreign keys are on).
    db.prepare('DELETE FROM jobs WHERE id = ?').run(id)
    expect(db.prepare('SELECT count(*) FROM job_logs').pluck().get()).toBe(0)
  })
})

describe('0003_models', () => {
  it('adds the model library and providers without touching jobs', () => {
    const db = freshDb()
    migrate(db, migrations, 2)
    const now = new Date().toISOString()
    db.prepare(
      `INSERT INTO jobs (kind, title, params, status, created_at, updated_at) VALUES ('k', 't', '{}', 'succeeded', ?, ?)`,
    ).run(now, now)
    migrate(db, migrations, 3)
    expect(db.prepare('SELECT count(*) FROM jobs').pluck().get()).toBe(1)
    const insert = db.prepare(
      `INSERT INTO models (name, path, source, size_bytes, file_modified_at, summary, added_at, updated_at)
       VALUES (?, ?, ?, 10, ?, '{}', ?, ?)`,
    )
    insert.run('tiny', '/m/tiny.gguf', 'file', now, now, now)
    expect(() => insert.run('tiny', '/m/other.gguf', 'file', now, now, now)).toThrowError(/UNIQUE/)
    expect(() => insert.run('other', '/m/x.gguf', 'stolen', now, now, now)).toThrowError(/CHECK/)
    expect(() =>
      db
        .prepare(
          `INSERT INTO providers (name, kind, base_url, model, concurrency, created_at, updated_at) VALUES ('p', 'openai', 'http://x', 'm', 0, ?, ?)`,
        )
        .run(now, now),
    ).toThrowError(/CHECK/)
  })
})

describe('0004_cache', () => {
  it('adds the cache with full-text search kept in sync, versions, vectors, the request log and keys', () => {
    const db = freshDb()
    migrate(db, migrations, 3)
    const now = new Date().toISOString()
    db.prepare(
      `INSERT INTO models (name, path, source, size_bytes, file_modified_at, summary, added_at, updated_at) VALUES ('m', '/m.gguf', 'file', 1, ?, '{}', ?, ?)`,
    ).run(now, now, now)
    migrate(db, migrations, 4)
    expect(db.prepare('SELECT count(*) FROM models').pluck().get()).toBe(1)
    const ns = db
      .prepare(
        `INSERT INTO cache_namespaces (name, normalization, guards, created_at, updated_at) VALUES ('support', '{}', '{}', ?, ?)`,
      )
      .run(now, now).lastInsertRowid
    const insert = db.prepare(
      `INSERT INTO cache_entries (namespace_id, key_hash, canonical, prompt_text, answer, state, created_by, created_at, updated_at)
       VALUES (?, ?, '{}', ?, ?, 'draft', 'imported', ?, ?)`,
    )
    const entry = insert.run(
      ns,
      'k1',
      'how do I enable two-factor login',
      'Open Settings, then Security.',
      now,
      now,
    ).lastInsertRowid
    expect(() => insert.run(ns, 'k1', 'dup', 'dup', now, now)).toThrowError(/UNIQUE/)
    const search = db.prepare(`SELECT rowid FROM cache_fts WHERE cache_fts MATCH ?`).pluck()
    expect(search.all('factor')).toEqual([Number(entry)])
    db.prepare(`UPDATE cache_entries SET answer = 'Use the Security tab.' WHERE id = ?`).run(entry)
    expect(search.all('Settings')).toEqual([])
    expect(search.all('tab')).toEqual([Number(entry)])
    db.prepare(`INSERT INTO cache_vectors VALUES (?, 3, ?)`).run(entry, Buffer.alloc(12))
    db.prepare(`INSERT INTO cache_entry_versions VALUES (?, 1, 'a', 'draft', 'operator', NULL, ?)`).run(entry, now)
    db.prepare('DELETE FROM cache_namespaces WHERE id = ?').run(ns)
    expect(db.prepare('SELECT count(*) FROM cache_entries').pluck().get()).toBe(0)
    expect(db.prepare('SELECT count(*) FROM cache_vectors').pluck().get()).toBe(0)
    expect(search.all('tab')).toEqual([])
    expect(() =>
      db.prepare(`INSERT INTO request_log (at, key_hash, hit_kind) VALUES (?, 'k', 'sort-of')`).run(now),
    ).toThrowError(/CHECK/)
  })
})

describe('0005_templates', () => {
  it('adds template families, variants, runs, versions and exports without touching the cache', () => {
    const db = freshDb()
    migrate(db, migrations, 4)
    const now = new Date().toISOString()
    db.prepare(
      `INSERT INTO cache_namespaces (name, normalization, guards, created_at, updated_at) VALUES ('support', '{}', '{}', ?, ?)`,
    ).run(now, now)
    migrate(db, migrations, 5)
    expect(db.prepare('SELECT count(*) FROM cache_namespaces').pluck().get()).toBe(1)
    expect(db.prepare('SELECT workspace_id FROM export_identity').pluck().get()).toMatch(/^[0-9a-f]{32}$/)
    const family = db
      .prepare(`INSERT INTO template_families (name, definition, created_at, updated_at) VALUES ('f', '{}', ?, ?)`)
      .run(now, now).lastInsertRowid
    expect(() =>
      db
        .prepare(`INSERT INTO template_families (name, definition, created_at, updated_at) VALUES ('f', '{}', ?, ?)`)
        .run(now, now),
    ).toThrowError(/UNIQUE/)
    const run = db
      .prepare(
        `INSERT INTO template_generation_runs (family_id, target, mode, planned_calls, family_revision, status, created_at)
         VALUES (?, 'model tiny', 'fill', 4, 1, 'running', ?)`,
      )
      .run(family, now).lastInsertRowid
    const insertVariant = db.prepare(
      `INSERT INTO template_variants (family_id, segment_key, template, state, origin, run_id, created_at, updated_at)
       VALUES (?, 'locale=en', 'Hi {{name}}', ?, 'generated', ?, ?, ?)`,
    )
    insertVariant.run(family, 'draft', run, now, now)
    expect(() => insertVariant.run(family, 'maybe', run, now, now)).toThrowError(/CHECK/)
    db.prepare(`INSERT INTO template_generation_segments VALUES (?, 'locale=en', 1, 1, 0, 10, 20, 5.5, 6.0, ?)`).run(
      run,
      now,
    )
    db.prepare(`INSERT INTO template_versions VALUES (?, 1, '{}', '[]', 0, 'hash', NULL, ?)`).run(family, now)
    expect(() =>
      db.prepare(`INSERT INTO template_versions VALUES (?, 1, '{}', '[]', 0, 'h', NULL, ?)`).run(family, now),
    ).toThrowError(/UNIQUE|PRIMARY KEY/)
    db.prepare(
      `INSERT INTO cdn_exports (sequence, out_dir, manifest_hash, counts, created_at) VALUES (1, '/tmp/b', 'h', '{}', ?)`,
    ).run(now)
    // Removing a family removes everything generated for it.
    db.prepare('DELETE FROM template_families WHERE id = ?').run(family)
    for (const table of [
      'template_variants',
      'template_generation_runs',
      'template_generation_segments',
      'template_versions',
    ]) {
      expect(db.prepare(`SELECT count(*) FROM ${table}`).pluck().get(), table).toBe(0)
    }
    expect(db.prepare('SELECT count(*) FROM cdn_exports').pluck().get()).toBe(1)
  })
})

describe('0006_pipelines', () => {
  it('adds pipelines with versions, runs and the token ledger, cascading deletes', () => {
    const db = freshDb()
    migrate(db, migrations, 5)
    migrate(db, migrations, 6)
    const now = new Date().toISOString()
    const id = db
      .prepare(`INSERT INTO pipelines (name, current_version, created_at, updated_at) VALUES ('p', 1, ?, ?)`)
      .run(now, now).lastInsertRowid
    db.prepare(`INSERT INTO pipeline_versions VALUES (?, 1, '{"nodes":[]}', NULL, ?)`).run(id, now)
    expect(() =>
      db.prepare(`INSERT INTO pipeline_versions VALUES (?, 2, 'not json', NULL, ?)`).run(id, now),
    ).toThrowError(/CHECK/)
    const run = db
      .prepare(
        `INSERT INTO pipeline_runs (pipeline_id, version, source, status, input, trace, started_at) VALUES (?, 1, 'cli', 'succeeded', '"hi"', '{}', ?)`,
      )
      .run(id, now).lastInsertRowid
    db.prepare(`INSERT INTO pipeline_usage VALUES (?, 'draft', 'tiny', 3, 4, 1.5, ?)`).run(run, now)
    db.prepare('DELETE FROM pipelines WHERE id = ?').run(id)
    expect(db.prepare('SELECT count(*) FROM pipeline_usage').pluck().get()).toBe(0)
    expect(db.prepare('SELECT count(*) FROM pipeline_versions').pluck().get()).toBe(0)
  })
})

describe('0007_model_hashes', () => {
  it('adds a checked sha256 column to existing models', () => {
    const db = freshDb()
    migrate(db, migrations, 6)
    const now = new Date().toISOString()
    db.prepare(
      `INSERT INTO models (name, path, source, size_bytes, file_modified_at, summary, added_at, updated_at) VALUES ('m', '/m.gguf', 'file', 1, ?, '{}', ?, ?)`,
    ).run(now, now, now)
    migrate(db, migrations, 7)
    expect(db.prepare('SELECT sha256 FROM models').pluck().get()).toBeNull()
    db.prepare('UPDATE models SET sha256 = ?').run('a'.repeat(64))
    expect(() => db.prepare(`UPDATE models SET sha256 = 'short'`).run()).toThrowError(/CHECK/)
  })
})

describe('0008_tenants_and_imports', () => {
  it('gives existing pipelines the tenant "default" and adds checked log-import checkpoints', () => {
    const db = freshDb()
    migrate(db, migrations, 7)
    const now = new Date().toISOString()
    db.prepare(`INSERT INTO pipelines (name, current_version, created_at, updated_at) VALUES ('p', 1, ?, ?)`).run(
      now,
      now,
    )
    const namespace = db
      .prepare(
        `INSERT INTO cache_namespaces (tenant, name, normalization, guards, created_at, updated_at) VALUES ('t', 'n', '{}', '{}', ?, ?)`,
      )
      .run(now, now).lastInsertRowid
    migrate(db, migrations, 8)
    expect(db.prepare('SELECT tenant FROM pipelines').pluck().get()).toBe('default')
    const insert = db.prepare(
      `INSERT INTO log_imports (namespace_id, file_sha256, path, format, status, started_at, updated_at) VALUES (?, ?, '/l.jsonl', 'jsonl', 'running', ?, ?)`,
    )
    insert.run(namespace, 'a'.repeat(64), now, now)
    expect(() => insert.run(namespace, 'a'.repeat(64), now, now)).toThrowError(/UNIQUE/)
    expect(() => insert.run(namespace, 'short', now, now)).toThrowError(/CHECK/)
    db.prepare('DELETE FROM cache_namespaces WHERE id = ?').run(namespace)
    expect(db.prepare('SELECT count(*) FROM log_imports').pluck().get()).toBe(0)
  })
})

describe('0009_entry_finish', () => {
  it('records how each cached answer ended: old entries ended normally, a cut-off or tool-call one says so', () => {
    const db = freshDb()
    migrate(db, migrations, 8)
    const now = new Date().toISOString()
    const namespace = db
      .prepare(
        `INSERT INTO cache_namespaces (name, normalization, guards, created_at, updated_at) VALUES ('support', '{}', '{}', ?, ?)`,
      )
      .run(now, now).lastInsertRowid
    db.prepare(
      `INSERT INTO cache_entries (namespace_id, key_hash, canonical, prompt_text, answer, state, created_by, created_at, updated_at)
       VALUES (?, 'old', '{}', 'p', 'a', 'approved', 'generated', ?, ?)`,
    ).run(namespace, now, now)
    migrate(db, migrations, 9)
    expect(db.prepare(`SELECT finish_reason, tool_calls FROM cache_entries WHERE key_hash = 'old'`).get()).toEqual({
      finish_reason: 'stop',
      tool_calls: null,
    })
    const insert = db.prepare(
      `INSERT INTO cache_entries (namespace_id, key_hash, canonical, prompt_text, answer, finish_reason, tool_calls, state,
         created_by, created_at, updated_at) VALUES (?, ?, '{}', 'p', '', ?, ?, 'draft', 'generated', ?, ?)`,
    )
    insert.run(namespace, 'cut', 'length', null, now, now)
    insert.run(namespace, 'call', 'tool_calls', '[{"id":"c","type":"function"}]', now, now)
    expect(() => insert.run(namespace, 'bad', 'exploded', null, now, now)).toThrowError(/CHECK/)
    expect(() => insert.run(namespace, 'bad2', 'tool_calls', 'not json', now, now)).toThrowError(/CHECK/)
  })
})

describe('0010_distill', () => {
  it('adds distillation runs, points and checkpoints, and model provenance, keeping existing models and jobs', () => {
    const db = freshDb()
    migrate(db, migrations, 9)
    const now = new Date().toISOString()
    db.prepare(
      `INSERT INTO models (name, path, source, size_bytes, file_modified_at, summary, added_at, updated_at) VALUES ('m', '/m.gguf', 'file', 1, ?, '{}', ?, ?)`,
    ).run(now, now, now)
    db.prepare(
      `INSERT INTO jobs (kind, title, params, status, created_at, updated_at) VALUES ('distill.train', 't', '{}', 'queued', ?, ?)`,
    ).run(now, now)
    migrate(db, migrations, 10)
    expect(db.prepare('SELECT provenance FROM models').pluck().get()).toBeNull()
    db.prepare(`UPDATE models SET provenance = '{"kind":"distillation"}'`).run()
    expect(() => db.prepare(`UPDATE models SET provenance = 'not json'`).run()).toThrowError(/CHECK/)
    const run = db
      .prepare(
        `INSERT INTO distill_runs (job_id, name, student, student_label, base_model_id, data_path, hyperparameters, created_at, updated_at)
         VALUES (1, 'student', '{"scratch":{}}', 'new', 1, '/d.jsonl', '{}', ?, ?)`,
      )
      .run(now, now).lastInsertRowid
    db.prepare(`INSERT INTO distill_points (run_id, seq, step, epoch, loss) VALUES (?, 1, 1, 0.1, 2.5)`).run(run)
    db.prepare(
      `INSERT INTO distill_checkpoints (run_id, step, epoch, path, bytes, created_at) VALUES (?, 1, 1, '/c.gguf', 10, ?)`,
    ).run(run, now)
    expect(() => db.prepare(`UPDATE distill_runs SET data_format = 'csv'`).run()).toThrowError(/CHECK/)
    // Removing a model keeps the run (its model reference clears); removing the run takes its points and checkpoints.
    db.prepare('DELETE FROM models').run()
    expect(db.prepare('SELECT base_model_id FROM distill_runs').pluck().get()).toBeNull()
    db.prepare('DELETE FROM distill_runs').run()
    expect(db.prepare('SELECT count(*) FROM distill_points').pluck().get()).toBe(0)
    expect(db.prepare('SELECT count(*) FROM distill_checkpoints').pluck().get()).toBe(0)
  })
})

describe('0011_explained_defaults', () => {
  it('adds a checked miss reason to the log, a prompt index, and a quality report to models; namespaces keep their policy', () => {
    const db = freshDb()
    migrate(db, migrations, 10)
    const now = new Date().toISOString()
    const namespace = db
      .prepare(
        `INSERT INTO cache_namespaces (name, serve_drafts, normalization, guards, created_at, updated_at) VALUES ('strict', 0, '{}', '{}', ?, ?)`,
      )
      .run(now, now).lastInsertRowid
    db.prepare(`INSERT INTO request_log (at, namespace_id, key_hash, hit_kind) VALUES (?, ?, 'k', 'miss')`).run(
      now,
      namespace,
    )
    db.prepare(
      `INSERT INTO models (name, path, source, size_bytes, file_modified_at, summary, added_at, updated_at) VALUES ('m', '/m.gguf', 'quantized', 1, ?, '{}', ?, ?)`,
    ).run(now, now, now)
    migrate(db, migrations, 11)
    expect(db.prepare('SELECT reason FROM request_log').pluck().get()).toBeNull()
    expect(db.prepare('SELECT serve_drafts FROM cache_namespaces').pluck().get()).toBe(0)
    expect(db.prepare('SELECT quality FROM models').pluck().get()).toBeNull()
    const log = db.prepare(
      `INSERT INTO request_log (at, namespace_id, key_hash, hit_kind, reason) VALUES (?, ?, 'k', 'miss', ?)`,
    )
    for (const reason of [
      'no-entry',
      'draft-not-served',
      'rejected',
      'expired',
      'guard-refused',
      'params-differ',
      'bypass',
    ])
      log.run(now, namespace, reason)
    expect(() => log.run(now, namespace, 'because')).toThrowError(/CHECK/)
    db.prepare('UPDATE models SET quality = ?').run('{"top1Agreement": 0.84}')
    expect(() => db.prepare(`UPDATE models SET quality = 'not json'`).run()).toThrowError(/CHECK/)
    // The prompt lookup uses the new index.
    const plan = db
      .prepare(
        `EXPLAIN QUERY PLAN SELECT id FROM cache_entries WHERE namespace_id = ? AND substr(prompt_text, 1, 120) = substr(?, 1, 120)`,
      )
      .all(namespace, 'p') as { detail: string }[]
    expect(plan.map((row) => row.detail).join(' ')).toMatch(/cache_entries_by_prompt/)
  })
})

describe('0012_deployments', () => {
  it('adds deployments (checked action and JSON) and saved targets with unique names, keeping export history', () => {
    const db = freshDb()
    migrate(db, migrations, 11)
    const exportsBefore = db.prepare('SELECT count(*) FROM cdn_exports').pluck().get()
    migrate(db, migrations, 12)
    expect(db.prepare('SELECT count(*) FROM cdn_exports').pluck().get()).toBe(exportsBefore)
    const now = new Date().toISOString()
    const insert = db.prepare(
      `INSERT INTO cdn_deployments (target, action, version, manifest_hash, objects, counts, deployed_by, deployed_at)
       VALUES ('s3://b/p', ?, 1, 'h', ?, '{}', 'me@host', ?)`,
    )
    insert.run('deploy', '["a"]', now)
    insert.run('rollback', '[]', now)
    expect(() => insert.run('upload', '[]', now)).toThrowError(/CHECK/)
    expect(() => insert.run('deploy', 'not json', now)).toThrowError(/CHECK/)
    const target = db.prepare(
      `INSERT INTO cdn_targets (name, url, secret_encrypted, created_at, updated_at) VALUES (?, 's3://b/p', 'v1:x:y:z', ?, ?)`,
    )
    target.run('prod', now, now)
    expect(() => target.run('prod', now, now)).toThrowError(/UNIQUE/)
  })
})

describe('0013_distill_datasets', () => {
  it('marks stored gateway requests, and keeps dataset versions immutable', () => {
    const db = freshDb()
    migrate(db, migrations, 12)
    const now = new Date().toISOString()
    db.prepare(`INSERT INTO request_log (at, key_hash, hit_kind) VALUES (?, 'k', 'miss')`).run(now)
    migrate(db, migrations, 13)
    expect(db.prepare('SELECT stored, metadata FROM request_log').get()).toEqual({ stored: 0, metadata: null })
    expect(() =>
      db.prepare(`INSERT INTO request_log (at, key_hash, hit_kind, metadata) VALUES (?, 'k', 'miss', 'x')`).run(now),
    ).toThrowError(/CHECK/)
    const dataset = db
      .prepare(`INSERT INTO distill_datasets (name, created_at, updated_at) VALUES ('d', ?, ?)`)
      .run(now, now).lastInsertRowid
    const version = db
      .prepare(
        `INSERT INTO distill_dataset_versions (dataset_id, version, content_hash, train_count, eval_count, with_logprobs, card, created_at) VALUES (?, 1, ?, 1, 0, 0, '{}', ?)`,
      )
      .run(dataset, 'a'.repeat(64), now).lastInsertRowid
    const insert = db.prepare(
      `INSERT INTO distill_version_examples (version_id, seq, split, messages) VALUES (?, ?, 'train', '[]')`,
    )
    insert.run(version, 1)
    expect(() => db.prepare('UPDATE distill_dataset_versions SET train_count = 2').run()).toThrowError(/immutable/)
    expect(() => db.prepare(`UPDATE distill_version_examples SET split = 'eval'`).run()).toThrowError(/immutable/)
  })
})

describe('0014_distill_eval', () => {
  it('adds evaluation reports and promotions; a promotion needs JSON targets and a 0/1 gate verdict', () => {
    const db = freshDb()
    migrate(db, migrations, 13)
    const now = new Date().toISOString()
    db.prepare(
      `INSERT INTO models (name, path, source, size_bytes, file_modified_at, summary, added_at, updated_at) VALUES ('m', '/m.gguf', 'library', 1, ?, '{}', ?, ?)`,
    ).run(now, now, now)
    migrate(db, migrations, 14)
    expect(tables(db)).toEqual(
      expect.arrayContaining(['distill_evaluations', 'distill_promotions', 'fine_tuning_files', 'fine_tuning_jobs']),
    )
    expect(db.prepare('SELECT count(*) FROM models').pluck().get()).toBe(1)
    const evaluation = db
      .prepare(`INSERT INTO distill_evaluations (name, data_path, input, created_at) VALUES ('e', '/d.jsonl', '{}', ?)`)
      .run(now).lastInsertRowid
    const promote = db.prepare(
      `INSERT INTO distill_promotions (target, target_label, model_id, model_name, evaluation_id, gate_passed, previous, actor, created_at)
       VALUES (?, 'ns', 1, 'm', ?, ?, '{}', 'op', ?)`,
    )
    promote.run('{"namespaceId":1}', evaluation, 1, now)
    expect(() => promote.run('not json', evaluation, 1, now)).toThrowError(/CHECK/)
    expect(() => promote.run('{"namespaceId":1}', evaluation, 2, now)).toThrowError(/CHECK/)
    expect(() => db.prepare(`UPDATE distill_evaluations SET report = 'x'`).run()).toThrowError(/CHECK/)
    db.prepare('DELETE FROM distill_evaluations').run()
    expect(db.prepare('SELECT evaluation_id FROM distill_promotions').pluck().get()).toBeNull()
  })
})

describe('0015_message_refs', () => {
  it('adds checked JSON message references to jobs, job logs and cache entry versions; old rows read null', () => {
    const db = freshDb()
    migrate(db, migrations, 14)
    const now = new Date().toISOString()
    const job = db
      .prepare(
        `INSERT INTO jobs (kind, title, params, status, created_at, updated_at) VALUES ('k', 'Old title', '{}', 'queued', ?, ?)`,
      )
      .run(now, now).lastInsertRowid
    db.prepare(`INSERT INTO job_logs (job_id, seq, level, message, at) VALUES (?, 1, 'info', 'Started.', ?)`).run(
      job,
      now,
    )
    migrate(db, migrations, 15)
    expect(db.prepare('SELECT title_ref, progress_ref, error_ref FROM jobs').get()).toEqual({
      title_ref: null,
      progress_ref: null,
      error_ref: null,
    })
    expect(db.prepare('SELECT message_ref FROM job_logs').pluck().get()).toBeNull()
    const ref = JSON.stringify({ key: 'job.demo', params: {} })
    db.prepare('UPDATE jobs SET title_ref = ?, error_ref = ?').run(ref, ref)
    db.prepare('UPDATE job_logs SET message_ref = ?').run(ref)
    for (const sql of [
      `UPDATE jobs SET title_ref = 'not json'`,
      `UPDATE jobs SET progress_ref = 'not json'`,
      `UPDATE jobs SET error_ref = 'not json'`,
      `UPDATE job_logs SET message_ref = 'not json'`,
    ])
      expect(() => db.prepare(sql).run(), sql).toThrowError(/CHECK/)
    const columns = db.prepare(`SELECT name FROM pragma_table_info('cache_entry_versions')`).pluck().all()
    expect(columns).toContain('note_ref')
  })
})

describe('0016_promotion_targets', () => {
  it('keeps existing promotions and lets a student be a model or a provider, exactly one', () => {
    const db = freshDb()
    migrate(db, migrations, 15)
    const now = new Date().toISOString()
    db.prepare(
      `INSERT INTO distill_promotions (target, target_label, model_id, model_name, previous, actor, created_at, rolled_back_at)
       VALUES ('{"namespaceId":1}', 'namespace default/ns', 3, 'student', '{}', 'op', ?, ?)`,
    ).run(now, now)
    migrate(db, migrations, 16)
    expect(
      db.prepare('SELECT target, model_id, model_name, provider_id, rolled_back_at FROM distill_promotions').get(),
    ).toEqual({
      target: '{"namespaceId":1}',
      model_id: 3,
      model_name: 'student',
      provider_id: null,
      rolled_back_at: now,
    })
    const insert = db.prepare(
      `INSERT INTO distill_promotions (target, target_label, model_id, model_name, provider_id, provider_name, previous, actor, created_at)
       VALUES ('{"familyId":1}', 'family f', ?, ?, ?, ?, '{}', 'op', ?)`,
    )
    insert.run(null, null, 4, 'remote-ft', now)
    expect(() => insert.run(null, null, null, null, now)).toThrowError(/CHECK/)
    expect(() => insert.run(1, 'm', 4, 'remote-ft', now)).toThrowError(/CHECK/)
    expect(() => insert.run(null, null, 4, null, now)).toThrowError(/CHECK/)
    const indexes = db.prepare(
      `SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'distill_promotions'`,
    )
    expect(indexes.pluck().all()).toContain('distill_promotions_target')
  })
})

describe('0017_model_adapters', () => {
  it('lets a model name its base (a LoRA adapter); old rows are full models, and a named base cannot be deleted', () => {
    const db = freshDb()
    migrate(db, migrations, 16)
    const now = new Date().toISOString()
    const insert = db.prepare(
      `INSERT INTO models (name, path, source, size_bytes, file_modified_at, summary, added_at, updated_at)
       VALUES (?, ?, 'file', 1, ?, '{}', ?, ?)`,
    )
    const base = insert.run('base', '/m/base.gguf', now, now, now).lastInsertRowid
    migrate(db, migrations, 17)
    expect(db.prepare('SELECT base_model_id FROM models').pluck().get()).toBeNull()
    const adapter = insert.run('lora', '/m/lora.gguf', now, now, now).lastInsertRowid
    db.prepare('UPDATE models SET base_model_id = ? WHERE id = ?').run(base, adapter)
    expect(() => db.prepare('UPDATE models SET base_model_id = 999 WHERE id = ?').run(adapter)).toThrowError(
      /FOREIGN KEY/,
    )
    expect(() => db.prepare('DELETE FROM models WHERE id = ?').run(base)).toThrowError(/FOREIGN KEY/)
    db.prepare('DELETE FROM models WHERE id = ?').run(adapter)
    db.prepare('DELETE FROM models WHERE id = ?').run(base)
    expect(db.prepare('SELECT count(*) FROM models').pluck().get()).toBe(0)
  })
})
