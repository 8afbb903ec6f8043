/**
 * A real SIGKILL of the process running a training job: the trainer worker goes with it, and the next backend to
 * open the workspace resumes the run from its last checkpoint (not from scratch) and finishes it.
 */
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { RunResult } from '../src/shared/contract'
import { Backend } from '../src/backend/backend'
import { toChatJsonl, triageExamples } from '../src/backend/distill/synthetic'
import { tempDir, waitUntil } from './helpers'

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('distillation after a crash', () => {
  it(
    'SIGKILL mid-training: the run resumes from the last checkpoint and finishes',
    async () => {
      const home = tempDir()
      const data = join(tempDir(), 'triage.jsonl')
      writeFileSync(data, toChatJsonl(triageExamples(240, 11)))

      const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/distill-child.ts', home, data], {
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let stderr = ''
      child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)))
      const [jobId, runId, checkpointStep, workerPid] = await new Promise<number[]>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          const match = /CHECKPOINTED (\d+) (\d+) (\d+) (\d+)/.exec(chunk.toString())
          if (match) resolve(match.slice(1).map(Number))
        })
        child.on('exit', (code) => reject(new Error(`child exited early (${code}): ${stderr}`)))
      })
      const exited = new Promise((resolve) => child.on('exit', resolve))
      child.kill('SIGKILL')
      await exited
      // The trainer worker notices its parent is gone and ends too.
      await waitUntil(() => !alive(workerPid!), 30_000, 'the trainer worker to exit')

      const backend = Backend.open({ home, runner: { heartbeatMs: 50 }, models: { cpuOnly: true } })
      expect(backend.workspace.jobs.get(jobId!)!.status).toBe('running')
      backend.start()
      const job = await backend.runner.waitFor(jobId!)
      try {
        expect(job.error).toBeNull()
        expect(job.status).toBe('succeeded')
        expect(job.attempts).toBe(2)
        const logs = backend.workspace.jobs.logs(jobId!, 0, 500).map((entry) => entry.message)
        expect(logs).toContain(`Resuming from the checkpoint after epoch 1 (step ${checkpointStep}).`)
        const detail = backend.distill.getRun(runId!, 100000)
        // Exactly one point per step: the replayed part was recorded once, and nothing before the checkpoint twice.
        const steps = detail.points.filter((point) => point.loss !== null).map((point) => point.step)
        expect(new Set(steps).size).toBe(steps.length)
        expect(Math.min(...steps)).toBe(2)
        expect(detail.checkpoints.map((checkpoint) => checkpoint.epoch)).toEqual([1, 2, 3])
        const result = job.result as RunResult
        expect(result.steps).toBe(Math.max(...steps))
        expect(result.epochsDone).toBe(3)
        expect(result.final.valLoss!).toBeLessThan(result.baseline.valLoss! / 2)
      } finally {
        await backend.close()
      }
    },
    10 * 60_000,
  )
})
