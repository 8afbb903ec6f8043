/**
 * The teacher job: answers a dataset's prompts over `runBatch` (one or several teachers sharing the load), several
 * samples per prompt at a chosen temperature, and records each answer's top-k log-probs where the teacher can give
 * them: local teachers by teacher forcing in the model worker (`controlledEvaluate`), OpenAI-compatible ones through
 * `logprobs`/`top_logprobs`. An endpoint that returns none, or refuses the parameter, is recorded as absent with the
 * reason; nothing is made up.
 */
import type { LogprobsRecord, TeachParams } from '../../../shared/contract'
import { teachParamsSchema } from '../../../shared/contract'
import type { JobContext, JobKind } from '../../jobs/runner'
import { runBatch, type ProviderSlot } from '../../models/batch'
import { ProviderError, type GenerateRequest, type GenerateResult, type Provider } from '../../models/providers/types'
import type { ModelsService } from '../../models/service'
import type { ChatMessage } from '../data'
import type { DatasetsRepository, ExampleRow } from '../datasets/repository'

export const TEACH_JOB = 'distill.teach'

type Target = TeachParams['teachers'][number]

export interface TeacherSlot extends ProviderSlot {
  target: Target
  label: string
}

/** Loads local teachers (several sequences, so prompts are batched) and builds one slot per teacher. */
export async function teacherSlots(
  models: ModelsService,
  targets: Target[],
  log: (text: string) => void,
): Promise<TeacherSlot[]> {
  const slots: TeacherSlot[] = []
  for (const target of targets) {
    if ('model' in target && !models.get(target.model).loaded) {
      log(`Loading ${models.get(target.model).name} with 2 parallel sequences.`)
      await models.load({ id: target.model, sequences: 2 })
    }
    const { provider, concurrency } = models.providerFor(target)
    slots.push({ provider, concurrency, target, label: provider.id })
  }
  return slots
}

/**
 * An OpenAI-compatible endpoint that refuses `logprobs` (a 400) is asked again without it, and the refusal is the
 * recorded reason; any other failure is the request's.
 */
class LogprobsTolerantProvider implements Provider {
  readonly kind = 'openai' as const
  readonly refusals = new Map<number, string>()

  constructor(private readonly inner: Provider) {}

  get id(): string {
    return this.inner.id
  }

  async generate(request: GenerateRequest): Promise<GenerateResult> {
    try {
      return await this.inner.generate(request)
    } catch (error) {
      if (!request.topLogprobs || !(error instanceof ProviderError) || error.status !== 400) throw error
      const { topLogprobs: _topLogprobs, ...plain } = request
      const result = await this.inner.generate(plain)
      return Object.assign(result, { logprobsRefused: error.message })
    }
  }

  embed(texts: string[], signal?: AbortSignal): Promise<number[][]> {
    return this.inner.embed(texts, signal)
  }

  tokenize(text: string): Promise<number[]> {
    return this.inner.tokenize(text)
  }

  countTokens(text: string): Promise<number> {
    return this.inner.countTokens(text)
  }
}

function fromEndpoint(result: GenerateResult, k: number): LogprobsRecord | null {
  if (!result.logprobs) return null
  return {
    k,
    normalisation: 'as returned by the endpoint (logprobs/top_logprobs); tail = 1 - sum of the returned top entries',
    tokens: result.logprobs.map((token) => ({
      token: token.token,
      logprob: token.logprob,
      top: token.top.slice(0, k),
      tailMass: Math.max(0, 1 - token.top.slice(0, k).reduce((sum, entry) => sum + Math.exp(entry.logprob), 0)),
    })),
  }
}

interface Work {
  row: ExampleRow
  sample: number
}

async function logprobsFor(
  models: ModelsService,
  slot: TeacherSlot,
  result: GenerateResult,
  prompt: ChatMessage[],
  k: number,
): Promise<{ logprobs: LogprobsRecord | null; absent: string | null }> {
  if (k === 0) return { logprobs: null, absent: 'not asked for (topLogprobs 0)' }
  if ('model' in slot.target) {
    try {
      const record = await models.teacherLogprobs(slot.target.model, { messages: prompt, answer: result.text, k })
      return { logprobs: { k: record.k, normalisation: record.normalisation, tokens: record.tokens }, absent: null }
    } catch (error) {
      return { logprobs: null, absent: `teacher forcing failed: ${(error as Error).message}` }
    }
  }
  const refused = (result as GenerateResult & { logprobsRefused?: string }).logprobsRefused
  if (refused) return { logprobs: null, absent: `${slot.label} refused logprobs: ${refused}` }
  const record = fromEndpoint(result, k)
  return record
    ? { logprobs: record, absent: null }
    : { logprobs: null, absent: `${slot.label} returned no log-probs for this answer` }
}

export function teachJob(repo: DatasetsRepository, models: ModelsService): JobKind<TeachParams> {
  return {
    kind: TEACH_JOB,
    params: teachParamsSchema as never,
    // Each answer is saved as it arrives; a resumed job answers only what is still unanswered.
    resumable: true,
    title: (params) => `Teach dataset ${params.datasetId}`,
    run: async (context: JobContext<TeachParams>) => {
      const params = context.params
      const rows = repo.promptsToTeach(params.datasetId, params.onlyUnanswered || context.attempt > 1)
      if (rows.length === 0) {
        context.log('info', 'Nothing to answer: every prompt has an answer.')
        return { answered: 0, failed: 0, withLogprobs: 0 }
      }
      const slots = await teacherSlots(models, params.teachers, (text) => context.log('info', text))
      for (const slot of slots)
        if (slot.provider.kind === 'openai') slot.provider = new LogprobsTolerantProvider(slot.provider)
      const work: Work[] = rows.flatMap((row) =>
        Array.from({ length: params.samples }, (_, sample) => ({ row, sample })),
      )
      const requests: GenerateRequest[] = work.map(({ row, sample }) => ({
        messages: JSON.parse(row.prompt) as ChatMessage[],
        maxTokens: params.maxTokens,
        temperature: params.temperature,
        seed: 1 + sample,
        ...(params.topLogprobs > 0 ? { topLogprobs: params.topLogprobs } : {}),
      }))
      repo.setTeacherOrJudge(params.datasetId, 'teacher', {
        teachers: slots.map((slot) => slot.label),
        samples: params.samples,
        temperature: params.temperature,
        maxTokens: params.maxTokens,
        topLogprobs: params.topLogprobs,
      })
      context.log(
        'info',
        `Answering ${rows.length} prompts x ${params.samples} samples with ${slots.map((s) => s.label).join(', ')}.`,
      )
      let answered = 0
      let failed = 0
      let withLogprobs = 0
      const pending: Promise<void>[] = []
      await runBatch(requests, slots, {
        signal: context.signal,
        onItemDone: (item, done, total) => {
          context.progress(done / total, `${done} of ${total} answered`)
          if (!item.ok) {
            failed++
            context.log('warn', `Prompt ${work[item.index]!.row.id} failed: ${item.error}`)
            return
          }
          const slot = slots.find((candidate) => candidate.provider.id === item.result.providerId)!
          const { row, sample } = work[item.index]!
          pending.push(
            logprobsFor(
              models,
              slot,
              item.result,
              requests[item.index]!.messages as ChatMessage[],
              params.topLogprobs,
            ).then((lp) => {
              repo.saveAnswer(row, sample, { text: item.result.text, teacher: slot.label, ...lp })
              answered++
              if (lp.logprobs) withLogprobs++
            }),
          )
        },
      })
      await Promise.all(pending)
      return { answered, failed, withLogprobs }
    },
  }
}
