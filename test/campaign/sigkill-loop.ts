/**
 * SIGKILL campaign: a real backend process (test/fixtures/kill-child.ts) runs a job and is killed at a random moment,
 * again and again; after every kill the workspace must pass `PRAGMA integrity_check` and the scenario's invariants
 * (e.g. no request-log row counted twice, rows committed == the import's checkpoint), and once the job is let finish
 * the result must be exact. Small N in CI (sigkill-loop.test.ts), large N by hand:
 *
 *   npm run campaign -- sigkill --n 1000 [--scenario import|backup]
 *
 * Scenarios are data: to add one (e.g. gateway writes), add a KillScenario below and a case in kill-child.ts.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { Backend } from '../../src/backend/backend'

/** Like test/helpers' fillDatabase (which needs vitest): `megabytes` of rows, so a backup has pages to copy. */
function fillDatabase(db: Backend['workspace']['db'], megabytes: number): void {
  db.exec('CREATE TABLE IF NOT EXISTS test_filler (id INTEGER PRIMARY KEY, blob BLOB NOT NULL)')
  const insert = db.prepare('INSERT INTO test_filler (blob) VALUES (randomblob(?))')
  db.transaction(() => {
    for (let i = 0; i < megabytes * 16; i++) insert.run(64 * 1024)
  })()
}

export interface KillScenario {
  name: string
  /** Prepares the workspace in `home` (and any input file under `dir`); returns the child's argument. */
  setup(home: string, dir: string): Promise<string>
  /** Invariants that must hold after any kill (the database is open read-write, nothing else uses it). */
  check(db: Database.Database): string[]
  /** What must hold once the job finished. */
  final(db: Database.Database, arg: string, done: { status: string; result: unknown }): string[]
}

export interface KillLoopResult {
  scenario: string
  kills: number
  /** Kills that landed before the job had finished (the others found it done already). */
  killsMidJob: number
  integrityFailures: number
  invariantFailures: number
  problems: string[]
  spawnToKillMs: { min: number; max: number }
  seconds: number
}

const FAIL_EVERY = 97
const DOUBLE_EVERY = 50

/** A JSONL request log: `lines` unique questions, every 97th line broken, every 50th asked twice. */
function writeLog(path: string, lines: number): void {
  const out: string[] = []
  for (let i = 1; i <= lines; i++) {
    if (i % FAIL_EVERY === 0) out.push(`{"broken line ${i}`)
    else
      out.push(
        JSON.stringify({
          model: 'm',
          messages: [{ role: 'user', content: `question ${i}` }],
          ...(i % DOUBLE_EVERY === 0 ? { count: 2 } : {}),
        }),
      )
  }
  writeFileSync(path, `${out.join('\n')}\n`)
}

function expectedRows(lines: number): Map<number, number> {
  const expected = new Map<number, number>()
  for (let i = 1; i <= lines; i++) if (i % FAIL_EVERY !== 0) expected.set(i, i % DOUBLE_EVERY === 0 ? 2 : 1)
  return expected
}

function importedRows(db: Database.Database): Map<number, number> {
  const rows = db
    .prepare(
      `SELECT prompt_text AS prompt, count(*) AS n FROM request_log WHERE source = 'import' GROUP BY prompt_text`,
    )
    .all() as { prompt: string; n: number }[]
  return new Map(rows.map((row) => [Number(/question (\d+)/.exec(row.prompt)?.[1] ?? -1), row.n]))
}

export function importScenario(lines: number): KillScenario {
  const expected = expectedRows(lines)
  return {
    name: 'import',
    async setup(home, dir) {
      const backend = Backend.open({ home })
      await backend.close()
      const path = join(dir, 'requests.jsonl')
      writeLog(path, lines)
      return path
    },
    check(db) {
      const problems: string[] = []
      const seen = importedRows(db)
      let total = 0
      for (const [question, n] of seen) {
        total += n
        if (n > (expected.get(question) ?? 0)) problems.push(`question ${question} logged ${n} times`)
      }
      const checkpoint = db.prepare('SELECT coalesce(sum(imported), 0) FROM log_imports').pluck().get() as number
      if (checkpoint !== total) problems.push(`${total} rows committed but the checkpoint says ${checkpoint}`)
      return problems
    },
    final(db, _arg, done) {
      const problems: string[] = []
      if (done.status !== 'succeeded') problems.push(`the import ended ${done.status}`)
      const seen = importedRows(db)
      for (const [question, n] of expected)
        if (seen.get(question) !== n) problems.push(`question ${question}: ${seen.get(question) ?? 0} rows, want ${n}`)
      if (seen.size !== expected.size) problems.push(`${seen.size} distinct questions, want ${expected.size}`)
      return problems.slice(0, 20)
    },
  }
}

export function backupScenario(megabytes: number): KillScenario {
  return {
    name: 'backup',
    async setup(home, dir) {
      const backend = Backend.open({ home })
      fillDatabase(backend.workspace.db, megabytes)
      await backend.close()
      return join(dir, 'backup.db')
    },
    check: () => [],
    final(_db, path, done) {
      const problems: string[] = []
      if (done.status !== 'succeeded') problems.push(`the backup ended ${done.status}`)
      if (existsSync(`${path}.partial`)) problems.push('a .partial file is left')
      const copy = new Database(path, { readonly: true })
      try {
        const integrity = copy.pragma('integrity_check', { simple: true })
        if (integrity !== 'ok') problems.push(`the backup's integrity_check: ${String(integrity)}`)
        const rows = copy.prepare('SELECT count(*) FROM test_filler').pluck().get() as number
        if (rows !== megabytes * 16) problems.push(`the backup has ${rows} filler rows, want ${megabytes * 16}`)
      } finally {
        copy.close()
      }
      return problems
    },
  }
}

interface ChildRun {
  done: { status: string; result: unknown } | null
  killed: boolean
  afterMs: number
}

/** Starts the child; once it says STARTED, waits `delayMs` and kills it (unless it finished first). */
function runChild(scenario: string, home: string, arg: string, delayMs: number | null): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/kill-child.ts', scenario, home, arg], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    let done: ChildRun['done'] = null
    let killed = false
    let timer: NodeJS.Timeout | undefined
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      if (delayMs !== null && timer === undefined && out.includes('STARTED')) {
        timer = setTimeout(() => {
          if (done === null) {
            killed = true
            child.kill('SIGKILL')
          }
        }, delayMs)
      }
      const match = /DONE (.*)\n/.exec(out)
      if (match) done = JSON.parse(match[1]!) as ChildRun['done']
    })
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()))
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      if (!killed && done === null)
        reject(new Error(`kill-child exited (${code ?? signal}) without finishing: ${err.slice(-2000)}`))
      else resolve({ done, killed, afterMs: performance.now() - started })
    })
  })
}

export async function sigkillLoop(options: {
  scenario: KillScenario
  kills: number
  /** Kill between 0 and this many ms after the child said STARTED. */
  maxDelayMs: number
  log?: (line: string) => void
}): Promise<KillLoopResult> {
  const started = performance.now()
  const dir = mkdtempSync(join(tmpdir(), `larder-kill-${options.scenario.name}-`))
  const home = join(dir, 'home')
  const { scenario } = options
  const result: KillLoopResult = {
    scenario: scenario.name,
    kills: 0,
    killsMidJob: 0,
    integrityFailures: 0,
    invariantFailures: 0,
    problems: [],
    spawnToKillMs: { min: Infinity, max: 0 },
    seconds: 0,
  }
  const note = (problem: string): void => {
    if (result.problems.length < 50) result.problems.push(problem)
  }
  const inspect = (after: string, arg: string, done: ChildRun['done']): void => {
    const db = new Database(join(home, 'larder.db'))
    try {
      const integrity = db.pragma('integrity_check', { simple: true })
      if (integrity !== 'ok') {
        result.integrityFailures++
        note(`${after}: integrity_check ${String(integrity)}`)
      }
      const problems = [...scenario.check(db), ...(done ? scenario.final(db, arg, done) : [])]
      if (problems.length > 0) {
        result.invariantFailures++
        for (const problem of problems) note(`${after}: ${problem}`)
      }
    } finally {
      db.close()
    }
  }
  try {
    const arg = await scenario.setup(home, dir)
    for (let i = 0; i < options.kills; i++) {
      // The first kills land early, the rest anywhere up to maxDelayMs: both ends of a job get hit.
      const delay = Math.floor(Math.random() * options.maxDelayMs * Math.min(1, (i + 1) / 3))
      const run = await runChild(scenario.name, home, arg, delay)
      result.kills++
      if (run.killed) result.killsMidJob++
      result.spawnToKillMs.min = Math.min(result.spawnToKillMs.min, Math.round(run.afterMs))
      result.spawnToKillMs.max = Math.max(result.spawnToKillMs.max, Math.round(run.afterMs))
      inspect(`kill ${i + 1}`, arg, null)
      if (run.done) {
        // The job finished before the kill: start over, so every kill hits a job in progress.
        inspect(`finished before kill ${i + 1}`, arg, run.done)
        rmSync(home, { recursive: true, force: true })
        await scenario.setup(home, dir)
      }
      if ((i + 1) % 25 === 0) options.log?.(`${i + 1} kills, ${result.problems.length} problems`)
    }
    const last = await runChild(scenario.name, home, arg, null)
    inspect('after the last run', arg, last.done)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  if (result.kills === 0) result.spawnToKillMs.min = 0
  result.seconds = Math.round((performance.now() - started) / 100) / 10
  return result
}
