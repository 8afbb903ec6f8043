/**
 * The demo workspace (`larder demo`, or "Load demo workspace" on an empty console): one job that uses the public
 * API the way an operator would, so every page of the console has real data to explore, offline:
 *
 * 1. trains a small student on the support corpus that ships with Larder (about a minute) and registers it with a
 *    Q8_0 copy and its quality report — a finished run on the Distillation page;
 * 2. imports a Zipf-distributed request log of thousands of lines (the coverage curve), pre-warms the head with the
 *    trained model and approves part of it (curated with the corpus's answers);
 * 3. sends live traffic through the OpenAI-compatible gateway (hits and misses, the hit-rate chart);
 * 4. generates a template family with the trained model, approves and publishes it;
 * 5. wires a starter pipeline to the model and runs it; exports a CDN bundle; sets prices for cost estimates.
 *
 * Every step records itself in `<home>/demo/state.json`, so a demo interrupted half-way continues where it stopped.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { z } from 'zod'
import type { Job } from '../../shared/contract'
import { ApiError } from '../../shared/errors'
import { STARTERS } from '../pipelines/starters'
import type { JobContext, JobKind } from '../jobs/runner'
import { NOTIFICATIONS_EN, NOTIFICATIONS_KO, SUPPORT_EN, SUPPORT_KO } from './corpus'
import { CHATML_TEMPLATE, writeTinyLlamaGguf } from '../gguf/index'
import { wordVocabulary } from './vocabulary'
import { DEMO_MODEL_NAME, demoQuestions, demoRequestLog, questionPhrasings, zipfSample } from './request-log'
import { message } from '../../shared/messages'

export const DEMO_JOB = 'demo.build'

/** What the demo needs from the backend: the API, job waiting, the workspace folder and a gateway to send through. */
export interface DemoHost {
  home: string
  call(method: string, input: unknown): Promise<unknown>
  waitFor(jobId: number): Promise<Job>
  gatewayHandler(token: string): (request: IncomingMessage, response: ServerResponse) => void
}

interface DemoState {
  done: string[]
  modelId?: number
  quantizedModelId?: number
  namespaceId?: number
  familyId?: number
  pipelineId?: number
  approvedQuestions?: string[]
}

type Step = (context: JobContext<{ quick: boolean }>, state: DemoState) => Promise<void>

const NOTIFICATION_REQUEST_EN = 'Write the notification:'
const NOTIFICATION_REQUEST_KO = '알림 문구:'

/**
 * The corpus as chat JSONL, the way a teacher's answers to real traffic look: each question in the phrasings
 * customers use (the same ones the demo request log draws from) with the support team's answer, and notification
 * kinds with their sentences. The held-out examples are then mostly rephrasings of questions seen in training.
 */
export function demoCorpusJsonl(): string {
  const chat = (user: string, assistant: string): string =>
    JSON.stringify({
      messages: [
        { role: 'user', content: user },
        { role: 'assistant', content: assistant },
      ],
    })
  return (
    [
      ...[...SUPPORT_EN, ...SUPPORT_KO].flatMap((pair) =>
        questionPhrasings(pair.question).map((question) => chat(question, pair.answer)),
      ),
      ...NOTIFICATIONS_EN.map((note) => chat(`${NOTIFICATION_REQUEST_EN} ${note.event}`, note.text)),
      ...NOTIFICATIONS_KO.map((note) => chat(`${NOTIFICATION_REQUEST_KO} ${note.event}`, note.text)),
    ].join('\n') + '\n'
  )
}

/** The demo student: a small llama with a word-level vocabulary of the corpus and ChatML (see vocabulary.ts). */
export async function writeDemoStudent(path: string): Promise<void> {
  const texts = demoCorpusJsonl()
    .split('\n')
    .filter((line) => line.length > 0)
    .flatMap((line) => (JSON.parse(line) as { messages: Array<{ content: string }> }).messages.map((m) => m.content))
  await writeTinyLlamaGguf(path, {
    seed: 7,
    name: DEMO_MODEL_NAME,
    embeddingLength: 64,
    blockCount: 2,
    headCount: 4,
    feedForwardLength: 128,
    contextLength: 1024,
    chatTemplate: CHATML_TEMPLATE,
    tokenizer: wordVocabulary(texts),
  })
}

const DEMO_FAMILY = {
  formatVersion: 1,
  name: 'order-shipped',
  purpose: 'Tell a customer that their tea order has shipped.',
  prompt: 'You write short, warm notifications for an online tea shop.',
  slots: [
    { name: 'name', type: 'text', required: true, maxLength: 40, examples: ['Mina', 'Alex'] },
    { name: 'product', type: 'text', required: true, maxLength: 60, examples: ['Jasmine tea', 'Sencha, 100 g'] },
  ],
  segments: [
    { name: 'locale', values: ['en', 'ko'], default: 'en' },
    { name: 'tone', values: ['friendly', 'formal'] },
  ],
  variantsPerSegment: 2,
  constraints: { maxLength: 160 },
  fallbacks: [
    { when: { locale: 'ko' }, template: '{{#name}}{{name}}님, {{/name}}주문하신 상품이 발송되었습니다.' },
    {
      when: { locale: 'en' },
      template:
        '{{#name}}Hi {{name}}, y{{/name}}{{^name}}Y{{/name}}our {{#product}}{{product}} {{/product}}order is on its way.',
    },
  ],
}

export class DemoService {
  constructor(private readonly host: DemoHost) {}

  private get dir(): string {
    return join(this.host.home, 'demo')
  }

  private readState(): DemoState {
    const path = join(this.dir, 'state.json')
    return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as DemoState) : { done: [] }
  }

  private writeState(state: DemoState): void {
    mkdirSync(this.dir, { recursive: true })
    writeFileSync(join(this.dir, 'state.json'), JSON.stringify(state, null, 2))
  }

  get loaded(): boolean {
    return this.readState().done.includes('export')
  }

  private async call<T>(method: string, input: unknown = {}): Promise<T> {
    return (await this.host.call(method, input)) as T
  }

  private async runJob(context: JobContext<unknown>, method: string, input: unknown): Promise<Job> {
    const { job } = await this.call<{ job: Job }>(method, input)
    context.log('info', `Started job ${job.id}: ${job.title}.`)
    const finished = await this.host.waitFor(job.id)
    if (finished.status !== 'succeeded') {
      throw new Error(`${job.title} ${finished.status}: ${finished.error ?? 'no reason given'}`)
    }
    return finished
  }

  job(): JobKind<{ quick: boolean }> {
    return {
      kind: DEMO_JOB,
      params: z.object({ quick: z.boolean().default(false) }),
      resumable: false,
      title: () => message('job.demo'),
      run: (context) => this.build(context),
    }
  }

  private steps(): Array<[string, string, Step]> {
    return [
      ['train', 'Training the demo model on the support corpus', (context, state) => this.train(context, state)],
      ['settings', 'Setting prices for cost estimates', () => this.settings()],
      ['log', 'Importing a request log', (context, state) => this.importLog(context, state)],
      ['prewarm', 'Pre-warming the most asked questions', (context, state) => this.prewarm(context, state)],
      ['traffic', 'Sending live traffic through the gateway', (context, state) => this.traffic(context, state)],
      ['templates', 'Generating a template family', (context, state) => this.templates(context, state)],
      ['pipeline', 'Wiring a starter pipeline to the model', (context, state) => this.pipeline(context, state)],
      ['export', 'Exporting a CDN bundle', (context) => this.export(context)],
    ]
  }

  private async build(context: JobContext<{ quick: boolean }>): Promise<unknown> {
    const state = this.readState()
    const steps = this.steps()
    for (const [index, [key, title, step]] of steps.entries()) {
      context.throwIfAborted()
      if (state.done.includes(key)) continue
      context.progress(index / steps.length, title)
      context.log('info', `${title}…`)
      await step(context, state)
      state.done.push(key)
      this.writeState(state)
    }
    context.progress(1, 'Done')
    return { ...state, home: this.host.home }
  }

  private async train(context: JobContext<{ quick: boolean }>, state: DemoState): Promise<void> {
    mkdirSync(this.dir, { recursive: true })
    const data = join(this.dir, 'support-corpus.jsonl')
    writeFileSync(data, demoCorpusJsonl())
    const student = join(this.dir, 'demo-student.gguf')
    await writeDemoStudent(student)
    const job = await this.runJob(context, 'distill.train', {
      student: { path: student },
      data,
      name: DEMO_MODEL_NAME,
      hyperparameters: context.params.quick
        ? { epochs: 1, maxSteps: 120, lr: 5e-4, batch: 64 }
        : { epochs: 24, lr: 5e-4, batch: 64 },
      quantize: 'Q8_0',
    })
    const result = job.result as { modelId: number; quantized: { modelId: number } | null }
    state.modelId = result.modelId
    state.quantizedModelId = result.quantized?.modelId
  }

  private async settings(): Promise<void> {
    await this.call('settings.update', { pricing: { inputPer1kTokens: 0.5, outputPer1kTokens: 1.5, currency: 'USD' } })
  }

  private async importLog(context: JobContext<{ quick: boolean }>, state: DemoState): Promise<void> {
    const { namespace } = await this.call<{ namespace: { id: number } }>('cache.namespaces.save', {
      name: 'support',
      generationTarget: { model: state.modelId! },
      modelLabel: DEMO_MODEL_NAME,
      storeAs: 'draft',
    })
    state.namespaceId = namespace.id
    const path = join(this.dir, 'request-log.jsonl')
    writeFileSync(path, demoRequestLog(context.params.quick ? 1500 : 6000))
    await this.runJob(context, 'cache.log.import', { namespaceId: namespace.id, path })
  }

  private async prewarm(context: JobContext<{ quick: boolean }>, state: DemoState): Promise<void> {
    await this.runJob(context, 'cache.prewarm', {
      namespaceId: state.namespaceId!,
      top: context.params.quick ? 8 : 20,
      target: { model: state.modelId! },
    })
    // An operator curates the head: the most asked questions get the support team's own answer and are approved.
    const answers = new Map([...SUPPORT_EN, ...SUPPORT_KO].map((pair) => [pair.question, pair.answer]))
    const { items } = await this.call<{ items: Array<{ id: number; promptText: string }> }>('cache.entries.list', {
      namespaceId: state.namespaceId!,
      limit: 100,
    })
    let curated = 0
    state.approvedQuestions = []
    for (const entry of items) {
      const answer = answers.get(entry.promptText.trim())
      if (!answer || curated >= (context.params.quick ? 4 : 14)) continue
      await this.call('cache.entries.update', { id: entry.id, answer, state: 'approved', note: 'Support team answer' })
      state.approvedQuestions.push(entry.promptText.trim())
      curated++
    }
    context.log('info', `Approved ${curated} of ${items.length} pre-warmed answers; the rest stay drafts to review.`)
  }

  private async traffic(context: JobContext<{ quick: boolean }>, state: DemoState): Promise<void> {
    const token = randomBytes(18).toString('base64url')
    const handler = this.host.gatewayHandler(token)
    const server: Server = createServer(handler)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    const questions = zipfSample(demoQuestions(), context.params.quick ? 20 : 60, 4242)
    let hits = 0
    try {
      for (const [index, question] of questions.entries()) {
        context.throwIfAborted()
        const response = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'application/json',
            'x-larder-namespace': 'support',
          },
          body: JSON.stringify({
            model: DEMO_MODEL_NAME,
            // No sampling parameters: they are part of the cache key, and the log's requests have none.
            messages: [{ role: 'user', content: question }],
          }),
        })
        if (response.headers.get('x-larder-cache')?.startsWith('hit')) hits++
        await response.arrayBuffer()
        if (index % 10 === 0) context.progress(null, `Gateway request ${index + 1} of ${questions.length}`)
      }
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
    context.log('info', `Sent ${questions.length} requests through the gateway: ${hits} cache hits.`)
    void state
  }

  private async templates(context: JobContext<{ quick: boolean }>, state: DemoState): Promise<void> {
    const definition = {
      ...DEMO_FAMILY,
      generation: { target: { model: DEMO_MODEL_NAME }, temperature: 0.8, maxTokens: 320 },
    }
    const { family } = await this.call<{ family: { id: number } }>('templates.import', {
      text: JSON.stringify(definition),
      replace: true,
    })
    state.familyId = family.id
    await this.runJob(context, 'templates.generate', { familyId: family.id, mode: 'fill' })
    const { approved } = await this.call<{ approved: number }>('templates.variants.approve', {
      familyId: family.id,
      all: true,
    }).catch(() => ({ approved: 0 }))
    if (approved === 0) {
      // Nothing the student wrote passed the checks: the family still publishes with its fallbacks, and says so.
      context.log('warn', 'No generated variant passed the checks; the family is published with its fallbacks.')
    }
    await this.call('templates.publish', { familyId: family.id, note: 'Demo: written by the demo model' })
  }

  private async pipeline(context: JobContext<{ quick: boolean }>, state: DemoState): Promise<void> {
    const starter = STARTERS.find((candidate) => candidate.key === 'cache-generate-judge-store')!
    const target = { model: state.modelId! }
    const definition = {
      ...starter.definition,
      name: 'support-answer',
      description: 'Answers support questions from the cache; the demo model writes and judges the rest.',
      nodes: starter.definition.nodes.map((node) => {
        const config = { ...(node.config as Record<string, unknown>) }
        if ('target' in config) config.target = target
        if ('namespaceId' in config) config.namespaceId = state.namespaceId!
        // The cache nodes key requests like the gateway does, so approved answers serve the pipeline too.
        if (node.type === 'cache-lookup' || node.type === 'cache-store') config.model = DEMO_MODEL_NAME
        return { ...node, config }
      }),
    }
    const { pipeline } = await this.call<{ pipeline: { id: number } }>('pipelines.save', {
      definition,
      note: 'Demo starter wired to the demo model',
    })
    state.pipelineId = pipeline.id
    // A question with an approved answer: the run is served from the cache (the judge branch waits for a miss).
    const input = state.approvedQuestions?.[0] ?? SUPPORT_EN[1]!.question
    await this.runJob(context, 'pipelines.run', { id: pipeline.id, input })
  }

  private async export(context: JobContext<{ quick: boolean }>): Promise<void> {
    const outDir = join(this.host.home, 'exports', 'demo-bundle')
    if (existsSync(outDir)) return
    await this.runJob(context, 'export.cdn', { outDir })
  }

  /** Whether the workspace is empty (the console then offers the demo). */
  async status(latestJob: Job | null): Promise<{ empty: boolean; loaded: boolean; job: Job | null }> {
    const models = await this.call<{ items: unknown[] }>('models.list')
    const namespaces = await this.call<{ items: unknown[] }>('cache.namespaces.list')
    const families = await this.call<{ items: unknown[] }>('templates.list')
    const pipelines = await this.call<{ items: unknown[] }>('pipelines.list')
    const empty = [models, namespaces, families, pipelines].every((list) => list.items.length === 0)
    return { empty, loaded: this.loaded, job: latestJob }
  }

  refuseIfBusy(running: boolean): void {
    if (running) {
      throw new ApiError({ code: 'conflict', message: 'The demo workspace is already being loaded.' })
    }
  }
}
