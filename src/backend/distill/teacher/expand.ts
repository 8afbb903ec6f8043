/**
 * Synthetic expansion: the teacher writes N variations of each seed prompt (the dataset's first prompts), as a JSON
 * list under a schema, and the variations join the dataset through the same duplicate checks as any source (a
 * variation too close to its seed or to another prompt is dropped and counted).
 */
import { expandParamsSchema, type ExpandParams } from '../../../shared/contract'
import type { JobKind } from '../../jobs/runner'
import { runBatch } from '../../models/batch'
import type { ModelsService } from '../../models/service'
import type { ChatMessage } from '../data'
import type { Candidate } from '../datasets/formats'
import type { DatasetsService } from '../datasets/service'
import { teacherSlots } from './teach'

export const EXPAND_JOB = 'distill.expand'

function variationsSchema(count: number): Record<string, unknown> {
  return {
    type: 'object',
    properties: {
      variations: { type: 'array', items: { type: 'string', maxLength: 2000 }, minItems: count, maxItems: count },
    },
    required: ['variations'],
  }
}

function readVariations(text: string): string[] {
  try {
    const parsed = JSON.parse(text) as { variations?: unknown }
    return Array.isArray(parsed.variations)
      ? parsed.variations.filter((item): item is string => typeof item === 'string' && item.trim() !== '')
      : []
  } catch {
    return []
  }
}

export function expandJob(datasets: DatasetsService, models: ModelsService): JobKind<ExpandParams> {
  return {
    kind: EXPAND_JOB,
    params: expandParamsSchema as never,
    resumable: false,
    title: (params) => `Expand dataset ${params.datasetId} with ${params.variations} variations per prompt`,
    run: async (context) => {
      const params = context.params
      const seeds = datasets.repo.promptsToTeach(params.datasetId, false).slice(0, params.seeds)
      if (seeds.length === 0) throw new Error('The dataset has no prompts to vary: add a source first.')
      const slots = await teacherSlots(models, [params.teacher], (text) => context.log('info', text))
      const prompts = seeds.map((row) => JSON.parse(row.prompt) as ChatMessage[])
      const results = await runBatch(
        prompts.map((prompt) => ({
          messages: [
            {
              role: 'system' as const,
              content: `Write ${params.variations} different requests a user might send instead of the one given: same task and kind of answer, different wording or details. Answer in JSON.`,
            },
            { role: 'user' as const, content: prompt.findLast((m) => m.role === 'user')?.content ?? '' },
          ],
          maxTokens: 200 * params.variations + 64,
          temperature: params.temperature,
          jsonSchema: variationsSchema(params.variations),
        })),
        slots,
        {
          signal: context.signal,
          onItemDone: (_item, done, total) => context.progress(done / total, `${done} of ${total} seeds`),
        },
      )
      const candidates: Candidate[] = []
      results.forEach((item, index) => {
        if (!item.ok) return context.log('warn', `Seed ${seeds[index]!.id} failed: ${item.error}`)
        const system = prompts[index]!.filter((m) => m.role === 'system')
        for (const variation of readVariations(item.result.text).slice(0, params.variations)) {
          candidates.push({
            prompt: [...system, { role: 'user', content: variation }],
            answer: null,
            sourceRef: `variation of example ${seeds[index]!.id}`,
          })
        }
      })
      const summary = datasets.addCandidates(
        params.datasetId,
        { kind: 'synthetic', label: `synthetic variations by ${slots[0]!.label}`, candidates, problems: [] },
        { nearDuplicateThreshold: 0.85, evalPercent: 10 },
      )
      return summary
    },
  }
}
