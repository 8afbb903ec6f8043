/**
 * The external-command trainer with a real trainer behind the contract: `larder distill trainer-jsonl` (the built-in
 * trainer in a child process speaking the JSON-lines protocol) trains a scratch student; the job streams its points
 * and logs and registers the GGUF. A command that exits non-zero, one that prints garbage and writes no GGUF, and a
 * cancelled long-running command (its whole process group killed) fail or cancel the job with the reason.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { DistillRun, Job, Model, RunResult } from '../../../shared/contract'
import { tempDir, waitUntil, workBudget } from '../../../../test/helpers'
import { JSONL_TRAINER } from '../../../../test/fixtures/distill'
import { Backend } from '../../backend'
import { CHATML_TEMPLATE, writeTinyLlamaGguf } from '../../gguf/index'
import { toChatJsonl, triageExamples } from '../synthetic'
import { checkCommand, fillCommand, parseProgress, splitCommand } from './protocol'

const backends: Backend[] = []
afterEach(async () => {
  for (const backend of backends.splice(0)) await backend.close()
})

const quote = (value: string): string => `'${value}'`

function open(): { backend: Backend; home: string } {
  const home = tempDir()
  const backend = Backend.open({ home, validateOutput: true, models: { cpuOnly: true } }).start()
  backends.push(backend)
  return { backend, home }
}

async function train(backend: Backend, data: string, command: string, name: string) {
  const started = (await backend.call('distill.train', {
    student: { scratch: { seed: 3 } },
    data,
    name,
    trainer: { command },
    hyperparameters: { threads: 1 },
  })) as { job: Job; run: DistillRun }
  return started
}

describe('external trainer protocol', () => {
  it('parses protocol lines and LLaMA-Factory trainer_log lines; other lines are logs', () => {
    expect(
      parseProgress('{"step": 3, "loss": 1.5, "eval_loss": 2, "lr": 0.001, "tokens_per_second": 90}')?.point,
    ).toMatchObject({
      step: 3,
      loss: 1.5,
      valLoss: 2,
      lr: 0.001,
      tokensPerSecond: 90,
    })
    const factory = parseProgress(
      '{"current_steps": 10, "total_steps": 100, "loss": 0.9, "lr": 5e-5, "epoch": 0.1, "percentage": 10}',
    )
    expect(factory).toMatchObject({ totalSteps: 100, point: { step: 10, loss: 0.9, epoch: 0.1 } })
    expect(parseProgress('Loading checkpoint shards: 100%')).toBeNull()
    expect(parseProgress('{"message": "no step"}')).toBeNull()
    expect(parseProgress('{broken')).toBeNull()
  })

  it('splits templates like a shell without running one; placeholders stay single arguments', () => {
    expect(splitCommand(`python -m "trl sft" --x 'a b' c\\ d`)).toEqual([
      'python',
      '-m',
      'trl sft',
      '--x',
      'a b',
      'c d',
    ])
    const argv = fillCommand('train --data {dataset} --out={out} --epochs {epochs}', {
      dataset: '/tmp/a b; rm -rf /',
      eval: '',
      base: '',
      out: '/o.gguf',
      workdir: '',
      epochs: '3',
      batch: '64',
      seed: '1',
    })
    expect(argv).toEqual(['train', '--data', '/tmp/a b; rm -rf /', '--out=/o.gguf', '--epochs', '3'])
    expect(checkCommand('train {dataset}')).toMatch(/\{out\}/)
    expect(checkCommand('train {data} {out}')).toMatch(/Unknown placeholder \{data\}/)
    expect(checkCommand('train "unclosed {out}')).toMatch(/unclosed/)
  })
})

describe('external-command trainer', () => {
  it(
    'trains through the contract with the built-in trainer behind it: points and logs streamed, the GGUF registered',
    async () => {
      const { backend, home } = open()
      const data = join(home, 'triage.jsonl')
      writeFileSync(data, toChatJsonl(triageExamples(200, 5)))
      const { job, run } = await train(backend, data, `${JSONL_TRAINER} --max-steps 40`, 'external-student')
      const done = await backend.runner.waitFor(job.id)
      expect(done.error).toBeNull()
      const result = done.result as RunResult
      expect(result.steps).toBe(40)
      // The untrained student's validation loss (step 0) falls by the end; the last training loss is kept.
      expect(result.final.valLoss).toBeLessThan(result.baseline.valLoss!)
      expect(result.final.loss).toBeTypeOf('number')
      const model = (await backend.call('models.get', { id: result.modelId })) as Model
      expect(model.name).toBe('external-student')
      expect(model.provenance).toMatchObject({ trainer: 'external' })
      const detail = (await backend.call('distill.run', { id: run.id })) as { run: DistillRun; points: unknown[] }
      expect(detail.run.trainer).toBe('external')
      expect(detail.points.length).toBeGreaterThan(5)
      const logs = backend.workspace.jobs.logs(job.id, 0, 5000).map((entry) => entry.message)
      expect(logs.some((line) => line.includes('trainer-jsonl'))).toBe(true)
      expect(logs.some((line) => line.includes('[info]'))).toBe(true)
    },
    workBudget({ processes: 3, loads: 2, tokens: 40 * 256 }),
  )

  it(
    'fails with the last lines on a non-zero exit or garbage output, and kills the process group on cancel',
    async () => {
      const { backend, home } = open()
      const data = join(home, 'triage.jsonl')
      writeFileSync(data, toChatJsonl(triageExamples(20, 5)))
      const node = quote(process.execPath)
      const failing = await train(
        backend,
        data,
        `${node} -e "console.log('loading'); console.error('CUDA out of memory'); process.exit(3)" {out}`,
        'f1',
      )
      const failed = await backend.runner.waitFor(failing.job.id)
      expect(failed.status).toBe('failed')
      expect(failed.error).toMatch(/exited with code 3/)
      expect(failed.error).toMatch(/CUDA out of memory/)

      const garbage = await train(
        backend,
        data,
        `${node} -e "require('fs').writeFileSync(process.argv[1], 'not a gguf'); console.log('{step: nope'); console.log('%%%')" {out}`,
        'f2',
      )
      const bad = await backend.runner.waitFor(garbage.job.id)
      expect(bad.status).toBe('failed')
      expect(bad.error).toMatch(/not a GGUF/)
      expect(bad.error).toMatch(/%%%/)

      const marker = join(home, 'grandchild.pid')
      const sleeper = `${node} -e "const c=require('child_process').spawn(process.execPath,['-e','setInterval(()=>{},1000)'],{stdio:'ignore'});require('fs').writeFileSync(process.argv[1],String(c.pid));setInterval(()=>{},1000)" ${quote(marker)} {out}`
      const long = await train(backend, data, sleeper, 'f3')
      await waitUntil(() => existsSync(marker), 20_000)
      const grandchild = Number(readFileSync(marker, 'utf8'))
      await backend.call('jobs.cancel', { id: long.job.id })
      const cancelled = await backend.runner.waitFor(long.job.id)
      expect(cancelled.status).toBe('cancelled')
      await waitUntil(() => {
        try {
          process.kill(grandchild, 0)
          return false
        } catch {
          return true
        }
      }, 10_000)
    },
    workBudget({ processes: 6 }),
  )

  it(
    'registers a LoRA written to {out} as an adapter on the student model the run started from, and serves it',
    async () => {
      // The built-in trainer makes full models, so the LoRA here is written by the test's command itself (the
      // project's GGUF writer, laid out as convert_lora_to_gguf.py writes adapters), shaped for the tiny student.
      const { backend, home } = open()
      const data = join(home, 'triage.jsonl')
      writeFileSync(data, toChatJsonl(triageExamples(20, 5)))
      await writeTinyLlamaGguf(join(home, 'student.gguf'), { chatTemplate: CHATML_TEMPLATE })
      const student = (await backend.call('models.register', { path: join(home, 'student.gguf') })) as Model
      const writer = quote(join(process.cwd(), 'src/backend/gguf/index.ts'))
      const tsx = quote(join(process.cwd(), 'node_modules/tsx/dist/loader.mjs'))
      const command = `${quote(process.execPath)} --import ${tsx} -e "import(process.argv[1]).then((g) => g.writeTinyLoraGguf(process.argv[2], { seed: 5 }))" ${writer} {out}`
      const started = (await backend.call('distill.train', {
        student: { modelId: student.id },
        data,
        name: 'triage-lora',
        trainer: { command },
        hyperparameters: { threads: 1 },
      })) as { job: Job; run: DistillRun }
      const done = await backend.runner.waitFor(started.job.id)
      expect(done.error).toBeNull()
      const adapter = (await backend.call('models.get', { id: (done.result as RunResult).modelId })) as Model
      expect(adapter.name).toBe('triage-lora')
      expect(adapter.baseModel).toEqual({ id: student.id, name: student.name })
      expect(adapter.fileType).toMatch(/^LoRA rank 4/)
      expect(adapter.provenance).toMatchObject({ kind: 'distillation', output: 'lora', trainer: 'external' })
      await backend.call('models.load', { id: adapter.id, threads: 1, contextSize: 128, gpu: 'cpu' })
      const generated = (await backend.call('models.generate', {
        target: { model: adapter.id },
        prompt: 'Ticket:',
        sampling: { maxTokens: 8, temperature: 0 },
      })) as { text: string }
      expect(generated.text.length).toBeGreaterThan(0)
    },
    workBudget({ processes: 2, loads: 1, tokens: 8 }),
  )

  it(
    "converts a Hugging Face folder at {out} with llama.cpp's script; a missing Python package fails the job with its last line and the command to run by hand",
    async () => {
      // Real: python3 and git on this machine, the script read out of node-llama-cpp's source bundle. The machine has
      // no torch, so the script stops on its imports, which is the path this checks.
      const { backend, home } = open()
      const data = join(home, 'triage.jsonl')
      writeFileSync(data, toChatJsonl(triageExamples(20, 5)))
      const node = quote(process.execPath)
      const folder = `${node} -e "const fs=require('fs'),p=require('path'),o=process.argv[1];fs.mkdirSync(o);fs.writeFileSync(p.join(o,'config.json'),'{}');fs.writeFileSync(p.join(o,'model.safetensors'),'')" {out}`
      const started = await train(backend, data, folder, 'hf-folder')
      const failed = await backend.runner.waitFor(started.job.id)
      expect(failed.status).toBe('failed')
      expect(failed.error).toMatch(
        /convert_hf_to_gguf\.py failed \(exit 1\): ModuleNotFoundError: No module named '\w+'/,
      )
      expect(failed.error).toMatch(/pip install -r \S+requirements-convert_hf_to_gguf\.txt/)
      expect(failed.error).toMatch(
        /convert by hand: python3 \S+\/convert_hf_to_gguf\.py \S+ --outfile \S+model-converted\.gguf/,
      )
      const logs = backend.workspace.jobs.logs(started.job.id, 0, 5000).map((entry) => entry.message)
      expect(logs.some((line) => line.startsWith('Converting a Hugging Face model folder to GGUF: python3'))).toBe(true)
      expect(logs.some((line) => /Traceback/.test(line))).toBe(true)
      // The scripts were read out of the bundle into the workspace, with the gguf-py package beside them.
      const tools = join(home, 'distill', 'tools')
      const cached = readdirSync(tools).find((name) => name.startsWith('llama-convert-'))!
      expect(existsSync(join(tools, cached, 'convert_lora_to_gguf.py'))).toBe(true)
      expect(existsSync(join(tools, cached, 'gguf-py', 'gguf', '__init__.py'))).toBe(true)

      // Without python3 on PATH (node is started by its full path), the job says what is missing.
      const peft = `${node} -e "const fs=require('fs'),p=require('path'),o=process.argv[1];fs.mkdirSync(o);fs.writeFileSync(p.join(o,'adapter_config.json'),'{}')" {out}`
      const path = process.env.PATH
      process.env.PATH = home
      try {
        const noPython = await train(backend, data, peft, 'peft-folder')
        const refused = await backend.runner.waitFor(noPython.job.id)
        expect(refused.status).toBe('failed')
        expect(refused.error).toMatch(/PEFT LoRA folder .* needs python3, which is not on PATH/)
        expect(refused.error).toMatch(/python3 convert_lora_to_gguf\.py \S+ --outfile \S+lora-converted\.gguf/)
      } finally {
        process.env.PATH = path
      }
    },
    workBudget({ processes: 6 }),
  )

  it('refuses a bad command template before a job exists', async () => {
    const { backend, home } = open()
    const data = join(home, 'triage.jsonl')
    writeFileSync(data, toChatJsonl(triageExamples(5, 5)))
    await expect(train(backend, data, 'trainer --data {dataset}', 'x')).rejects.toMatchObject({
      code: 'invalid_input',
      path: ['trainer', 'command'],
    })
  })
})
