/**
 * The judge job: scores every answered example 0-10 with a rubric and a model (the pipeline judge's constrained JSON,
 * `JUDGE_SCHEMA`: a local model's grammar allows exactly the integers 0-10) or with a saved pipeline (its output's
 * score), then approves those at or above the threshold and rejects the rest (unless `scoreOnly`). Examples an
 * operator has already approved or rejected keep their state; only their score is recorded.
 */
import { judgeParamsSchema, type JudgeParams } from '../../../shared/contract'
import type { JobContext, JobKind } from '../../jobs/runner'
import { runBatch } from '../../models/batch'
import type { ModelsService } from '../../models/service'
import { JUDGE_SCHEMA } from '../../pipelines/engine'
import type { PipelinesService } from '../../pipelines/service'
import type { ChatMessage } from '../data'
import type { DatasetsRepository, ExampleRow } from '../datasets/repository'
import { teacherSlots } from './teach'

export const JUDGE_JOB = 'distill.judge'

const JUDGE_SYSTEM =
  'You are a strict reviewer of training data. Score the answer to the prompt from 0 (wrong or useless) to 10 ' +
  '(perfect) against the rubric and give a short reason. Answer in JSON.'

/** A score from a judge's text: JSON `{score}`, else the first number; on the 0-10 scale, or null. */
export function readScore(text: string): { score: number; reason: string } | null {
  try {
    const parsed = JSON.parse(text) as { score?: unknown; reason?: unknown }
    if (typeof parsed.score === 'number' && Number.isFinite(parsed.score)) {
      return {
        score: Math.max(0, Math.min(10, Math.round(parsed.score))),
        reason: typeof parsed.reason === 'string' ? parsed.reason : '',
      }
    }
  } catch {
    // Not JSON: look for a number below.
  }
  const match = /-?\d+(?:\.\d+)?/.exec(text)
  if (!match) return null
  return { score: Math.max(0, Math.min(10, Math.round(Number(match[0])))), reason: text.slice(0, 200) }
}

function conversation(row: ExampleRow): string {
  const prompt = (JSON.parse(row.prompt) as ChatMessage[]).map((m) => `${m.role}: ${m.content}`).join('\n')
  return `Prompt:\n${prompt}\n\nAnswer:\n${row.answer ?? ''}`
}

export function judgeJob(
  repo: DatasetsRepository,
  models: ModelsService,
  pipelines: PipelinesService,
): JobKind<JudgeParams> {
  const decide = (row: ExampleRow, score: number, params: JudgeParams) =>
    params.scoreOnly || row.state !== 'pending' ? null : score >= params.threshold ? 'approved' : 'rejected'

  type RubricJudge = Extract<JudgeParams['judge'], { rubric: string }>
  const byModel = async (context: JobContext<JudgeParams>, rows: ExampleRow[], judge: RubricJudge) => {
    const rubric = judge.rubric
    const slots = await teacherSlots(models, [judge.target], (text) => context.log('info', text))
    const results = await runBatch(
      rows.map((row) => ({
        messages: [
          { role: 'system' as const, content: JUDGE_SYSTEM },
          { role: 'user' as const, content: `Rubric:\n${rubric}\n\n${conversation(row)}` },
        ],
        maxTokens: 900,
        temperature: 0,
        jsonSchema: JUDGE_SCHEMA,
      })),
      slots,
      {
        signal: context.signal,
        onItemDone: (_item, done, total) => context.progress(done / total, `${done} of ${total} judged`),
      },
    )
    return results.map((item) => (item.ok ? readScore(item.result.text) : null))
  }

  const byPipeline = async (context: JobContext<JudgeParams>, rows: ExampleRow[], pipelineId: number) => {
    const scores: ({ score: number; reason: string } | null)[] = []
    for (const [index, row] of rows.entries()) {
      context.throwIfAborted()
      const run = await pipelines.execute(pipelineId, conversation(row), {
        source: 'distill-judge',
        jobId: context.jobId,
        signal: context.signal,
      })
      scores.push(run.output ? readScore(run.output) : null)
      context.progress((index + 1) / rows.length, `${index + 1} of ${rows.length} judged`)
    }
    return scores
  }

  return {
    kind: JUDGE_JOB,
    params: judgeParamsSchema as never,
    resumable: true,
    title: (params) => `Judge dataset ${params.datasetId}`,
    run: async (context) => {
      const params = context.params
      const rows = repo.answeredExamples(params.datasetId)
      if (rows.length === 0) throw new Error('Nothing to judge: no example has an answer yet (run the teacher first).')
      const judge = params.judge
      repo.setTeacherOrJudge(params.datasetId, 'judge', {
        ...('rubric' in judge ? { rubric: judge.rubric, target: judge.target } : { pipelineId: judge.pipelineId }),
        threshold: params.threshold,
      })
      const scores =
        'rubric' in judge ? await byModel(context, rows, judge) : await byPipeline(context, rows, judge.pipelineId)
      let approved = 0
      let rejected = 0
      let unscored = 0
      rows.forEach((row, index) => {
        const verdict = scores[index]
        if (!verdict) {
          unscored++
          return
        }
        const state = decide(row, verdict.score, params)
        if (state === 'approved') approved++
        if (state === 'rejected') rejected++
        repo.saveJudgement(row.id, verdict.score, verdict.reason, state)
      })
      if (unscored > 0) context.log('warn', `${unscored} example(s) got no readable score and keep their state.`)
      return { judged: rows.length - unscored, approved, rejected, unscored }
    },
  }
}
