/**
 * The built-in trainer end to end, on a real backend: a tiny student made from scratch is trained with real
 * gradient steps (llama.cpp's training API in the trainer worker) on a synthetic extraction task, then loaded in
 * node-llama-cpp. Bad input is refused before a job exists; a native abort, a full disk and a divergence fail the
 * job with the reason while the backend keeps serving.
 */
import { writeFileSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { DistillRun, Job, Model, RunResult } from '../../shared/contract'
import { qualityLevel } from '../../shared/quality-verdict'
import { ApiError } from '../../shared/errors'
import { tempDir } from '../../../test/helpers'
import { Backend } from '../backend'
import { readGgufFile, readTensorBytes, writeGgufFile } from '../gguf/index'
import { formatPlain } from './data'
import { DEFAULT_SCRATCH_STUDENT, writeScratchStudent } from './student'
import { toChatJsonl, triageExamples } from './synthetic'

const backends: Backend[] = []
afterEach(async () => {
  for (const backend of backends.splice(0)) await backend.close()
  delete process.env.LARDER_TRAINER_FAULT
  delete process.env.LARDER_TEST_DISK_FREE_BYTES
})

function openBackend(): Backend {
  const backend = Backend.open({ home: tempDir(), validateOutput: true, models: { cpuOnly: true } }).start()
  backends.push(backend)
  return backend
}

function writeData(dir: string, count: number, seed = 7): string {
  const path = join(dir, 'triage.jsonl')
  writeFileSync(path, toChatJsonl(triageExamples(count, seed)))
  return path
}

async function train(backend: Backend, input: Record<string, unknown>): Promise<{ job: Job; run: DistillRun }> {
  const started = (await backend.call('distill.train', input)) as { job: Job; run: DistillRun }
  return { job: await backend.runner.waitFor(started.job.id), run: started.run }
}

async function jsonAnswers(backend: Backend, modelId: number, prompts: string[]): Promise<number> {
  await backend.call('models.load', { id: modelId, threads: 1, gpu: 'cpu', contextSize: 256 })
  let parsed = 0
  for (const prompt of prompts) {
    const reply = (await backend.call('models.generate', {
      target: { model: modelId },
      prompt,
      sampling: { maxTokens: 48, temperature: 0, stop: ['\n'] },
    })) as { text: string }
    try {
      JSON.parse(reply.text.trim())
      parsed++
    } catch {
      // not JSON: counted as a miss
    }
  }
  await backend.call('models.unload', { id: modelId })
  return parsed
}

async function writeOverflowingStudent(path: string): Promise<void> {
  const source = `${path}.source.gguf`
  await writeScratchStudent(source, DEFAULT_SCRATCH_STUDENT)
  const file = await readGgufFile(source)
  const handle = await open(source, 'r')
  const tensors = []
  for (const tensor of file.tensors) {
    const bytes = await readTensorBytes(handle, tensor)
    if (tensor.name === 'output_norm.weight') new Float32Array(bytes.buffer).fill(3e38)
    tensors.push({ name: tensor.name, dims: tensor.dims, type: tensor.type, data: bytes })
  }
  await handle.close()
  await writeGgufFile(path, { metadata: [...file.metadata], tensors })
}

describe('distillation with the built-in trainer', () => {
  it(
    'trains a tiny student from scratch with real gradients: loss halves, answers become accurate JSON, the student loads in node-llama-cpp and its Q8_0 passes the quality report',
    async () => {
      const backend = openBackend()
      const dir = tempDir()
      const data = writeData(dir, 1600)
      const { job, run } = await train(backend, {
        student: { scratch: { seed: 1 } },
        data,
        name: 'triage-student',
        hyperparameters: { epochs: 2, lr: 3e-4, batch: 64, threads: 1, warmupSteps: 20 },
        quantize: 'Q8_0',
      })
      expect(job.error).toBeNull()
      expect(job.status).toBe('succeeded')
      const result = job.result as RunResult
      // Validation loss at least halves from the untrained student's.
      expect(result.baseline.valLoss!).toBeGreaterThan(5)
      expect(result.final.valLoss!).toBeLessThan(result.baseline.valLoss! / 2)
      // Teacher-forced accuracy on the answer tokens of held-out examples, far above the untrained student's.
      expect(result.baseline.answerAccuracy!).toBeLessThan(0.1)
      expect(result.final.answerAccuracy!).toBeGreaterThan(0.6)

      // The run is recorded: points for every step and evaluation, a checkpoint per epoch, the model with provenance.
      const detail = (await backend.call('distill.run', { id: run.id })) as {
        run: DistillRun
        points: { step: number; loss: number | null; valLoss: number | null }[]
        checkpoints: { epoch: number; exists: boolean }[]
      }
      expect(detail.run.status).toBe('succeeded')
      expect(detail.run.prepared!.trainExamples).toBeGreaterThan(1300)
      expect(detail.points.filter((point) => point.valLoss !== null)).toHaveLength(3)
      expect(detail.points.filter((point) => point.loss !== null).length).toBeGreaterThan(100)
      expect(detail.checkpoints.map((checkpoint) => checkpoint.epoch)).toEqual([1, 2])
      expect(detail.checkpoints.every((checkpoint) => checkpoint.exists)).toBe(true)
      const model = (await backend.call('models.get', { id: result.modelId })) as Model
      expect(model.name).toBe('triage-student')
      expect(model.provenance).toMatchObject({ kind: 'distillation', run: run.id, dataset: { format: 'chat' } })
      expect((model.provenance!.dataset as { sha256: string }).sha256).toMatch(/^[0-9a-f]{64}$/)

      // Greedy answers to new inputs, through node-llama-cpp: the trained student writes JSON, the untrained one not.
      const heldOut = triageExamples(20, 999).map((example) => formatPlain(example.messages.slice(0, 1), true))
      const untrained = (await backend.call('models.register', {
        path: join(backend.workspace.paths.home, 'distill', `run-${run.id}`, 'student.gguf'),
        name: 'untrained',
      })) as Model
      const before = await jsonAnswers(backend, untrained.id, heldOut)
      const after = await jsonAnswers(backend, model.id, heldOut)
      console.info(
        `triage student: val loss ${result.baseline.valLoss!.toFixed(3)} -> ${result.final.valLoss!.toFixed(3)}, answer accuracy ${result.baseline.answerAccuracy!.toFixed(3)} -> ${result.final.answerAccuracy!.toFixed(3)}, greedy answers parsing as JSON ${before}/20 -> ${after}/20, Q8_0 KL ${result.quantized?.meanKlDivergence} top-1 ${result.quantized?.top1Agreement}`,
      )
      expect(after).toBeGreaterThan(before)

      // The Q8_0 copy passes the quality report (the console's verdict: good or excellent).
      expect(result.quantized).not.toBeNull()
      const verdict = qualityLevel(result.quantized!.meanKlDivergence!, result.quantized!.top1Agreement!)
      expect(['excellent', 'good']).toContain(verdict)
    },
    15 * 60_000,
  )

  it('refuses bad input before any job exists, saying what is wrong', async () => {
    const backend = openBackend()
    const dir = tempDir()
    const expectRefused = async (input: Record<string, unknown>, pattern: RegExp): Promise<void> => {
      try {
        await backend.call('distill.train', input)
        expect.unreachable()
      } catch (error) {
        expect(error).toBeInstanceOf(ApiError)
        expect((error as ApiError).code).toBe('invalid_input')
        expect((error as ApiError).message).toMatch(pattern)
      }
    }
    const data = writeData(dir, 20)
    const empty = join(dir, 'empty.jsonl')
    writeFileSync(empty, '\n\n')
    await expectRefused({ student: { scratch: {} }, data: empty }, /The dataset is empty/)
    const bad = join(dir, 'bad.jsonl')
    writeFileSync(bad, '{"prompt": "x"}\nnot json\n')
    await expectRefused(
      { student: { scratch: {} }, data: bad },
      /No line of the dataset is usable: Line 1 has no "messages" array\. Line 2 not valid JSON/,
    )
    await expectRefused({ student: { scratch: {} }, data: join(dir, 'missing.jsonl') }, /No dataset file/)
    const notModel = join(dir, 'notes.gguf')
    writeFileSync(notModel, 'not a model at all')
    await expectRefused({ student: { path: notModel }, data }, /is not a GGUF model/)
    await expectRefused({ student: { path: join(dir, 'nope.gguf') }, data }, /No student file/)
    await expectRefused(
      { student: { scratch: { embeddingLength: 30, headCount: 4 } }, data },
      /must split into 4 heads of an even size/,
    )
    await expectRefused({ student: { scratch: {} }, data, hyperparameters: { lr: 0 } }, /lr/)
    await expectRefused({ student: { scratch: {} }, data, hyperparameters: { context: 300 } }, /multiple of 256/)
    expect(backend.workspace.jobs.list({ limit: 10, offset: 0 }).total).toBe(0)
  })

  it('reports bad lines with their numbers, and a context too small for any example, as the job’s reason', async () => {
    const backend = openBackend()
    const dir = tempDir()
    const long = join(dir, 'long.jsonl')
    const answer = 'x'.repeat(400)
    writeFileSync(
      long,
      [
        JSON.stringify({
          messages: [
            { role: 'user', content: 'q' },
            { role: 'assistant', content: answer },
          ],
        }),
        'not json',
        JSON.stringify({
          messages: [
            { role: 'user', content: 'r' },
            { role: 'assistant', content: answer },
          ],
        }),
      ].join('\n'),
    )
    const { job } = await train(backend, { student: { scratch: {} }, data: long, hyperparameters: { threads: 1 } })
    expect(job.status).toBe('failed')
    expect(job.error).toMatch(
      /context of 256 tokens is too small for any training example \(the shortest is \d+ tokens\)/,
    )
    const logs = backend.workspace.jobs.logs(job.id, 0, 100).map((entry) => entry.message)
    expect(logs).toContain('Line 2 not valid JSON (Unexpected token \'o\', "not json" is not valid JSON).')
  })

  it(
    'fails the job with the reason on a native abort, a full disk or a divergence, and the backend keeps working',
    async () => {
      const backend = openBackend()
      const dir = tempDir()
      const data = writeData(dir, 200)
      const base = { student: { scratch: {} }, data, hyperparameters: { threads: 1, epochs: 1, maxSteps: 40 } }

      process.env.LARDER_TRAINER_FAULT = 'abort@5'
      const aborted = await train(backend, base)
      expect(aborted.job.status).toBe('failed')
      expect(aborted.job.error).toMatch(/llama\.cpp aborted the trainer: .*GGML_ASSERT\(!opt_ctx\) failed/)
      delete process.env.LARDER_TRAINER_FAULT

      process.env.LARDER_TEST_DISK_FREE_BYTES = '1000'
      const full = await train(backend, base)
      expect(full.job.status).toBe('failed')
      expect(full.job.error).toMatch(/Not enough disk space for a checkpoint .* it needs \d+ MiB and 0 MiB are free/)
      delete process.env.LARDER_TEST_DISK_FREE_BYTES

      // AdamW with RMSNorm keeps even lr=1 finite for a while, so the overflow comes from the weights a diverged run
      // leaves behind: a student whose output norm is 3e38 gives infinite logits and a NaN loss on its first step.
      const overflowing = join(dir, 'overflowing.gguf')
      await writeOverflowingStudent(overflowing)
      const diverged = await train(backend, { ...base, student: { path: overflowing } })
      expect(diverged.job.status).toBe('failed')
      expect(diverged.job.error).toMatch(
        /Training diverged at step \d+ \(epoch 1\): the loss became (NaN|Infinity)\. Lower the learning rate/,
      )

      // Still serving: the next run trains.
      const fine = await train(backend, { ...base, hyperparameters: { ...base.hyperparameters, maxSteps: 8 } })
      expect(fine.job.status).toBe('succeeded')
      expect((fine.job.result as RunResult).stoppedEarly).toBe(true)
    },
    5 * 60_000,
  )
})
