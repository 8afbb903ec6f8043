/**
 * `distill.eval`: students (and quantized variants) against their teacher on an eval set of OpenAI chat JSONL,
 * whose last assistant message per line is the teacher's answer. Token metrics on answer positions come from the
 * model worker (teacher forcing, eval/token-metrics.ts) when the teacher is a local GGUF; a remote teacher's file
 * carries no log-probs, so they are skipped with that reason. Task metrics, speed, size and cost are measured for
 * every contestant, then the gate gives each student a verdict. The report is stored with the evaluation.
 */
import { statSync } from 'node:fs'
import { z } from 'zod'
import type { Contestant, EvalReport, Evaluation, Job, ParsedInput } from '../../../shared/contract'
import { methodSpecs } from '../../../shared/contract'
import { ApiError } from '../../../shared/errors'
import type { EventBus } from '../../events'
import { metadataString, readGgufFile } from '../../gguf/index'
import type { JobContext, JobKind, JobRunner } from '../../jobs/runner'
import { defaultThreads } from '../../models/model-host'
import type { ChatMessage as ProviderMessage, Provider } from '../../models/providers/types'
import type { ModelsService } from '../../models/service'
import type { Workspace } from '../../workspace/workspace'
import { estimateCost } from '../../settings/repository'
import { DatasetError, formatPlain, readDataset, type ChatMessage } from '../data'
import { gateVerdict } from './gate'
import { judgeWinRate } from './judge'
import { EvalRepository } from './repository'
import { scoreTask } from './task-metrics'
import type { TokenEvalResult } from './token-metrics'

export const EVAL_JOB = 'distill.eval'
/** `distill.eval`'s input once a dataset version has been written out as its data file. */
export type ResolvedEvalInput = ParsedInput<'distill.eval'> & { data: string }
type EvalInput = ResolvedEvalInput
type Target = NonNullable<EvalInput['teacher']>

export interface EvalItem {
  line: number
  messages: ChatMessage[]
  prompt: ChatMessage[]
  reference: string
}

interface Answers {
  texts: string[]
  tokensOut: number
  seconds: number
  /** A local model's memory, measured in a model worker of its own (null for an endpoint: memoryOf). */
  memory: { peakRssBytes: number; baselineRssBytes: number } | null
}

/** What a contestant's memory is, or why it is not known. */
export const MEMORY_BASIS_ENDPOINT = 'A remote endpoint: its memory is not visible from here.'

function memoryOf(answers: Answers): Pick<Contestant, 'memoryBytes' | 'memoryBaselineBytes' | 'memoryBasis'> {
  if (!answers.memory) return { memoryBytes: null, memoryBaselineBytes: null, memoryBasis: MEMORY_BASIS_ENDPOINT }
  const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`
  return {
    memoryBytes: answers.memory.peakRssBytes,
    memoryBaselineBytes: answers.memory.baselineRssBytes,
    memoryBasis:
      `peak RSS of a model worker process of its own that loaded only this model and generated its answers ` +
      `(${mb(answers.memory.baselineRssBytes)} of it before the model and llama.cpp were loaded)`,
  }
}

function invalid(message: string, path: Array<string | number>): ApiError {
  return new ApiError({ code: 'invalid_input', message, path })
}

/** The eval examples of a chat JSONL file: prompt messages and the teacher's (last assistant) answer. */
export function evalItems(path: string, split: 'all' | 'val', valPercent: number, max: number): EvalItem[] {
  const dataset = readDataset(path, { valFraction: split === 'val' ? valPercent / 100 : 0, format: 'chat' })
  const items: EvalItem[] = []
  for (const example of dataset.examples) {
    if (example.kind !== 'chat' || (split === 'val' && example.split !== 'val')) continue
    const last = example.messages.map((message) => message.role).lastIndexOf('assistant')
    items.push({
      line: example.line,
      messages: example.messages.slice(0, last + 1),
      prompt: example.messages.slice(0, last),
      reference: example.messages[last]!.content,
    })
    if (items.length >= max) break
  }
  if (items.length === 0) throw new DatasetError('The eval set has no chat examples with an assistant answer.')
  return items
}

export interface PromptFormat {
  format: (messages: ChatMessage[], generation: boolean) => string
  stop: string[]
}

/** ChatML by hand when the student's template is ChatML (what the trainer applied), else the plain template. */
export function promptFormat(template: string | undefined): PromptFormat {
  if (template?.includes('<|im_start|>')) {
    return {
      format: (messages, generation) =>
        messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('') +
        (generation ? '<|im_start|>assistant\n' : ''),
      stop: ['<|im_end|>'],
    }
  }
  return { format: formatPlain, stop: ['\n'] }
}

type Student = EvalInput['students'][number]

/** The contestant's key, also the gate verdict's: `model:<id>` or `provider:<id>`. */
export const studentKey = (student: Student): string =>
  'modelId' in student ? `model:${student.modelId}` : `provider:${student.providerId}`

const studentTarget = (student: Student): Target =>
  'modelId' in student ? { model: student.modelId } : { provider: student.providerId }

export const PROVIDER_NOT_TEACHER_FORCED =
  'A provider cannot be teacher-forced: KL, top-1 agreement and NLL need the student’s log-probs at every answer position of the teacher’s text, which an endpoint does not give. Skipped, not estimated.'

const mean = (values: number[]): number => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : 0)

export class EvalService {
  constructor(
    private readonly workspace: Workspace,
    private readonly events: EventBus,
    private readonly runner: JobRunner,
    private readonly models: ModelsService,
  ) {}

  get repo(): EvalRepository {
    return new EvalRepository(this.workspace.db)
  }

  private checkTarget(target: Target, path: Array<string | number>): void {
    try {
      this.models.providerFor(target)
    } catch (error) {
      if (error instanceof ApiError && error.code === 'not_found') throw invalid(error.message, path)
      if (!(error instanceof ApiError)) throw error
    }
  }

  start(input: EvalInput): { job: Job; evaluation: Evaluation } {
    try {
      evalItems(input.data, input.split, input.valPercent, input.maxExamples)
    } catch (error) {
      if (error instanceof DatasetError) throw invalid(error.message, ['data'])
      throw error
    }
    input.students.forEach((student, index) => {
      if ('providerId' in student) {
        this.checkTarget({ provider: student.providerId }, ['students', index, 'providerId'])
        return
      }
      try {
        this.models.get(student.modelId)
      } catch {
        throw invalid(`There is no model ${student.modelId} in the library.`, ['students', index, 'modelId'])
      }
    })
    if (input.teacher && 'model' in input.teacher) this.models.get(input.teacher.model)
    if (input.teacher) this.checkTarget(input.teacher, ['teacher'])
    if (input.judge) this.checkTarget(input.judge.target, ['judge', 'target'])
    const repo = this.repo
    const id = repo.createEvaluation(input.name ?? '', input.data, input)
    if (!input.name) repo.setName(id, `evaluation-${id}`)
    const job = this.runner.enqueue(EVAL_JOB, { evaluationId: id })
    repo.setJob(id, job.id)
    this.events.emit('distill.evalChanged', { evaluationId: id })
    return { job, evaluation: repo.evaluation(id)! }
  }

  get(id: number): Evaluation {
    const evaluation = this.repo.evaluation(id)
    if (!evaluation)
      throw new ApiError({ code: 'not_found', message: `Evaluation ${id} does not exist.`, path: ['id'] })
    return evaluation
  }

  list(limit: number): Evaluation[] {
    return this.repo.evaluations(limit)
  }

  job(): JobKind<{ evaluationId: number }> {
    return {
      kind: EVAL_JOB,
      params: z.object({ evaluationId: z.int().positive() }),
      resumable: false,
      title: (params) => `Evaluate ${this.repo.evaluation(params.evaluationId)?.name ?? params.evaluationId}`,
      run: async (context) => {
        try {
          return await this.run(context)
        } finally {
          this.events.emit('distill.evalChanged', { evaluationId: context.params.evaluationId })
        }
      },
    }
  }

  /**
   * A provider for a target. A local model is loaded alone in a fresh model worker (models.loadIsolated), so the
   * worker's peak RSS is this model's; the worker is stopped after.
   */
  private async provider(target: Target): Promise<{
    provider: Provider
    memory: () => Promise<Answers['memory']>
    release: () => Promise<void>
  }> {
    if ('model' in target) {
      const input = methodSpecs['models.load'].input.parse({
        id: target.model,
        sequences: 1,
        threads: defaultThreads(),
      })
      const isolated = await this.models.loadIsolated(input)
      return {
        provider: isolated.provider,
        memory: async () => ({
          peakRssBytes: await isolated.peakRssBytes(),
          baselineRssBytes: isolated.baselineRssBytes,
        }),
        release: () => isolated.close(),
      }
    }
    const { provider } = this.models.providerFor(target)
    return { provider, memory: async () => null, release: async () => undefined }
  }

  /** Local models complete the prompt in the format they were trained on; endpoints get the chat messages. */
  private async answer(
    target: Target,
    items: EvalItem[],
    options: { maxTokens: number; format: PromptFormat },
    signal: AbortSignal,
  ): Promise<Answers> {
    const { provider, memory, release } = await this.provider(target)
    try {
      const result: Answers = { texts: [], tokensOut: 0, seconds: 0, memory: null }
      for (const item of items) {
        signal.throwIfAborted()
        const generated = await provider.generate({
          ...('model' in target
            ? { prompt: options.format.format(item.prompt, true), stop: options.format.stop }
            : { messages: item.prompt as ProviderMessage[] }),
          maxTokens: options.maxTokens,
          temperature: 0,
          signal,
        })
        result.texts.push(generated.text)
        result.tokensOut += generated.tokensOut
        result.seconds += generated.durationMs / 1000
      }
      result.memory = await memory()
      return result
    } finally {
      await release()
    }
  }

  private async tokenMetrics(
    input: EvalInput,
    items: EvalItem[],
    { format }: PromptFormat,
    context: JobContext<unknown>,
  ): Promise<{ result: TokenEvalResult | null; skipped: string | null }> {
    const teacher = input.teacher
    if (!teacher) return { result: null, skipped: 'No teacher model was given; the file has answers but no log-probs.' }
    if (!('model' in teacher)) {
      return {
        result: null,
        skipped:
          'The teacher is a remote endpoint and the eval file carries no teacher log-probs: KL and top-1 agreement are skipped, not estimated.',
      }
    }
    const local = input.students.flatMap((student) => ('modelId' in student ? [student.modelId] : []))
    if (local.length === 0) return { result: null, skipped: null }
    context.progress(0.05, 'Teacher forcing: token metrics on answer positions')
    const result = await this.models.host.distillTokens(
      {
        teacherPath: this.models.get(teacher.model).path,
        students: local.map((modelId) => ({ key: `model:${modelId}`, path: this.models.get(modelId).path })),
        examples: items.map((item) => ({ prompt: format(item.prompt, true), full: format(item.messages, false) })),
        topK: input.topK,
        contextSize: input.contextSize,
        threads: defaultThreads(),
      },
      (done, total) => context.progress(0.05 + (0.45 * done) / total, `Token metrics: ${done}/${total} models`),
    )
    return { result, skipped: null }
  }

  private cost(
    input: EvalInput,
    target: Target,
    answers: Answers,
    items: EvalItem[],
  ): { cost: number | null; basis: string | null } {
    const perAnswerSeconds = answers.seconds / items.length
    if ('model' in target) {
      if (input.localCostPerHour === null) return { cost: null, basis: 'Set a local cost per hour to estimate.' }
      return {
        cost: (input.localCostPerHour * perAnswerSeconds * 1000) / 3600,
        basis: `${input.localCostPerHour}/hour × ${perAnswerSeconds.toFixed(3)} s per answer`,
      }
    }
    const settings = this.workspace.settings.get()
    const tokensIn = mean(items.map((item) => item.prompt.reduce((sum, m) => sum + m.content.length / 4, 0)))
    const each = estimateCost(settings, tokensIn, answers.tokensOut / items.length)
    return each === null
      ? { cost: null, basis: 'No token prices are set (Settings).' }
      : { cost: each * 1000, basis: `settings prices, ~${Math.round(tokensIn)} tokens in (chars/4)` }
  }

  private async contestant(
    input: EvalInput,
    key: string,
    role: Contestant['role'],
    label: string,
    target: Target,
    items: EvalItem[],
    format: PromptFormat,
    context: JobContext<unknown>,
  ): Promise<{ contestant: Contestant; answers: string[] }> {
    const answers = await this.answer(target, items, { maxTokens: input.maxTokens, format }, context.signal)
    const references = items.map((item) => item.reference)
    const task = scoreTask(input.taskMetric, references, answers.texts, input.jsonSchema)
    const { cost, basis } = this.cost(input, target, answers, items)
    const modelId = 'model' in target ? target.model : null
    return {
      answers: answers.texts,
      contestant: {
        key,
        role,
        label,
        modelId,
        sizeBytes: modelId !== null ? statSync(this.models.get(modelId).path).size : null,
        tokensPerSecond: answers.seconds > 0 ? answers.tokensOut / answers.seconds : null,
        tokensPerAnswer: answers.tokensOut / items.length,
        ...memoryOf(answers),
        tokenMetrics: null,
        tokenMetricsSkipped: null,
        task,
        winRate: null,
        costPer1kAnswers: cost,
        costBasis: basis,
      },
    }
  }

  private studentName(student: Student): string {
    if ('modelId' in student) return this.models.get(student.modelId).name
    return this.models.providerFor({ provider: student.providerId }).provider.id
  }

  /** The prompt format local contestants complete: the first local student's chat template (else the teacher's). */
  private async formatOf(input: EvalInput): Promise<PromptFormat> {
    const first = input.students.find((student) => 'modelId' in student)
    const local =
      first && 'modelId' in first
        ? first.modelId
        : input.teacher && 'model' in input.teacher
          ? input.teacher.model
          : null
    if (local === null) return promptFormat(undefined)
    const file = await readGgufFile(this.models.get(local).path)
    return promptFormat(metadataString(file.metadata, 'tokenizer.chat_template'))
  }

  private async run(context: JobContext<{ evaluationId: number }>): Promise<unknown> {
    const evaluation = this.get(context.params.evaluationId)
    const input = methodSpecs['distill.eval'].input.parse(evaluation.input) as EvalInput
    const items = evalItems(input.data, input.split, input.valPercent, input.maxExamples)
    context.log('info', `Evaluating ${input.students.length} student(s) on ${items.length} examples.`)
    const format = await this.formatOf(input)
    const tokens = await this.tokenMetrics(input, items, format, context)
    if (tokens.skipped) context.log('warn', tokens.skipped)
    const contestants: Contestant[] = []
    const answersByKey: Record<string, string[]> = {}
    if (input.teacher) {
      const label =
        'model' in input.teacher ? this.models.get(input.teacher.model).name : `provider ${input.teacher.provider}`
      context.progress(0.5, 'Teacher answers')
      const { contestant, answers } = await this.contestant(
        input,
        'teacher',
        'teacher',
        label,
        input.teacher,
        items,
        format,
        context,
      )
      contestants.push(contestant)
      answersByKey.teacher = answers
    }
    for (const [index, student] of input.students.entries()) {
      const key = studentKey(student)
      const name = this.studentName(student)
      context.progress(0.55 + (0.4 * index) / input.students.length, `Answers of ${name}`)
      const { contestant, answers } = await this.contestant(
        input,
        key,
        'student',
        student.label ?? name,
        studentTarget(student),
        items,
        format,
        context,
      )
      this.attachTokenMetrics(contestant, student, tokens, context)
      if (input.judge) contestant.winRate = await this.winRate(input.judge, items, answers)
      contestants.push(contestant)
      answersByKey[key] = answers
    }
    const report = this.report(input, items, contestants, answersByKey, tokens.result)
    this.repo.setReport(evaluation.id, report)
    for (const verdict of report.verdicts) {
      context.log(
        verdict.passed ? 'info' : 'warn',
        `${verdict.key}: gate ${verdict.passed ? 'passed' : 'failed'}${verdict.reasons.length ? ` (${verdict.reasons.join(' ')})` : ''}`,
      )
    }
    return { evaluationId: evaluation.id, verdicts: report.verdicts }
  }

  /** A student's token metrics from the teacher-forcing pass, or why it has none (logged once). */
  private attachTokenMetrics(
    contestant: Contestant,
    student: Student,
    tokens: { result: TokenEvalResult | null; skipped: string | null },
    context: JobContext<unknown>,
  ): void {
    const name = this.studentName(student)
    if ('providerId' in student) {
      contestant.tokenMetricsSkipped = PROVIDER_NOT_TEACHER_FORCED
      context.log('info', `${name}: ${PROVIDER_NOT_TEACHER_FORCED}`)
      return
    }
    const measured = tokens.result?.students.find((entry) => entry.key === studentKey(student))
    if (measured && measured.refused === null) {
      contestant.tokenMetrics = {
        positions: measured.positions,
        meanKl: measured.meanKl!,
        top1Agreement: measured.top1Agreement!,
        nll: measured.nll!,
      }
      return
    }
    contestant.tokenMetricsSkipped = measured?.refused ?? tokens.skipped
    if (measured?.refused) context.log('warn', `${name}: ${measured.refused}`)
  }

  /** The judge's pairwise win-rate of these answers against the teacher's (positions swapped inside). */
  private async winRate(
    judge: NonNullable<EvalInput['judge']>,
    items: EvalItem[],
    answers: string[],
  ): Promise<number | null> {
    const { provider, release } = await this.provider(judge.target)
    try {
      return await judgeWinRate(
        provider,
        judge.rubric,
        items.map((item, i) => ({
          prompt: item.prompt.map((m) => m.content).join('\n'),
          teacher: item.reference,
          student: answers[i]!,
        })),
      )
    } finally {
      await release()
    }
  }

  private report(
    input: EvalInput,
    items: EvalItem[],
    contestants: Contestant[],
    answers: Record<string, string[]>,
    tokens: TokenEvalResult | null,
  ): EvalReport {
    const curves: EvalReport['curves'] = {}
    for (const student of input.students) {
      const curve =
        'modelId' in student ? this.repo.curveOfModel(student.modelId) : this.repo.curveOfProvider(student.providerId)
      if (curve) curves[studentKey(student)] = curve.points
    }
    return {
      examples: items.length,
      taskMetric: input.taskMetric,
      topK: input.topK,
      normalisation: tokens?.normalisation ?? null,
      contestants,
      gate: input.gate,
      verdicts: contestants.filter((c) => c.role === 'student').map((c) => gateVerdict(c, input.gate)),
      samples: items.slice(0, 50).map((item, index) => ({
        line: item.line,
        prompt: item.prompt.map((m) => `${m.role}: ${m.content}`).join('\n'),
        reference: item.reference,
        answers: Object.fromEntries(Object.entries(answers).map(([key, list]) => [key, list[index] ?? ''])),
        kl: Object.fromEntries(
          (tokens?.students ?? []).map((student) => [student.key, student.perExample[index] ?? null]),
        ),
      })),
      curves,
    }
  }
}
