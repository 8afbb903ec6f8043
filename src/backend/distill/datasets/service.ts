/**
 * Distillation datasets: create, add sources (with duplicate removal and the stable train/eval split), review,
 * freeze into immutable versions, export. Teacher, judge and expansion jobs live in `../teacher/`.
 */
import { createHash } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { ExportFormat, LogprobsRecord, MethodOutput, ParsedInput, SourceSummary } from '../../../shared/contract'
import { ApiError } from '../../../shared/errors'
import type { CacheService } from '../../cache/service'
import type { Workspace } from '../../workspace/workspace'
import { stableFraction, type ChatMessage } from '../data'
import { NearDuplicateIndex, promptHash, promptText } from './dedup'
import { formatExportLine } from './formats'
import { DatasetsRepository, toExample } from './repository'
import { collect, type Collected } from './sources'

export class DatasetsService {
  readonly repo: DatasetsRepository

  constructor(
    private readonly workspace: Workspace,
    private readonly cache: CacheService,
  ) {
    this.repo = new DatasetsRepository(workspace.db)
  }

  create(input: ParsedInput<'distill.datasets.create'>): MethodOutput<'distill.datasets.create'> {
    if (this.repo.datasetByName(input.name) !== undefined) {
      throw new ApiError({ code: 'conflict', message: `A dataset named ${input.name} exists.`, path: ['name'] })
    }
    return this.mustGet(this.repo.insertDataset(input.name, input.tenant, input.description ?? null))
  }

  mustGet(id: number): MethodOutput<'distill.datasets.create'> {
    const dataset = this.repo.getDataset(id)
    if (!dataset)
      throw new ApiError({ code: 'not_found', message: `Dataset ${id} does not exist.`, path: ['datasetId'] })
    return dataset
  }

  get(id: number): MethodOutput<'distill.datasets.get'> {
    return { dataset: this.mustGet(id), versions: this.repo.listVersions(id) }
  }

  /** Adds a source's prompts: exact duplicates (normalised) and near duplicates (shingle Jaccard) are skipped. */
  addSource(input: ParsedInput<'distill.datasets.addSource'>): SourceSummary {
    const dataset = this.mustGet(input.datasetId)
    const collected = collect({ db: this.workspace.db, cache: this.cache, tenant: dataset.tenant }, input.source)
    return this.addCandidates(dataset.id, { kind: input.source.kind, ...collected }, input)
  }

  addCandidates(
    datasetId: number,
    collected: Collected & { kind: string },
    options: { nearDuplicateThreshold: number; evalPercent: number },
  ): SourceSummary {
    const existing = this.repo.existingPrompts(datasetId)
    const hashes = new Set(existing.map((row) => row.hash))
    const near = new NearDuplicateIndex(options.nearDuplicateThreshold)
    for (const row of existing) near.add(promptText(JSON.parse(row.text) as ChatMessage[]))
    const counts = { added: 0, exactDuplicates: 0, nearDuplicates: 0 }
    this.repo.transaction(() => {
      for (const candidate of collected.candidates) {
        const hash = promptHash(candidate.prompt)
        const text = promptText(candidate.prompt)
        if (hashes.has(hash)) counts.exactDuplicates++
        else if (near.nearestAbove(text) !== null) counts.nearDuplicates++
        else {
          hashes.add(hash)
          near.add(text)
          // The split follows the prompt alone, so every sample of a prompt lands on the same side.
          const split = stableFraction(hash) < options.evalPercent / 100 ? 'eval' : 'train'
          const { prompt, answer, sourceRef } = candidate
          this.repo.insertExample(datasetId, {
            source: collected.kind,
            sourceRef,
            prompt,
            promptHash: hash,
            sample: 0,
            answer,
            split,
          })
          counts.added++
        }
      }
    })
    const summary: SourceSummary = {
      kind: collected.kind,
      label: collected.label,
      found: collected.candidates.length,
      ...counts,
      problems: collected.problems.slice(0, 200),
      at: new Date().toISOString(),
    }
    this.repo.appendSource(datasetId, summary)
    return summary
  }

  examples(input: ParsedInput<'distill.datasets.examples'>): MethodOutput<'distill.datasets.examples'> {
    this.mustGet(input.datasetId)
    const page = this.repo.listExamples(input.datasetId, input)
    return { items: page.items.map(toExample), total: page.total }
  }

  review(input: ParsedInput<'distill.datasets.review'>): { changed: number } {
    this.mustGet(input.datasetId)
    const state = input.action === 'approve' ? 'approved' : input.action === 'reject' ? 'rejected' : 'pending'
    return { changed: this.repo.setState(input.datasetId, input.ids, state) }
  }

  edit(id: number, answer: string): MethodOutput<'distill.datasets.edit'> {
    if (!this.repo.getExample(id)) {
      throw new ApiError({ code: 'not_found', message: `Example ${id} does not exist.`, path: ['id'] })
    }
    this.repo.editAnswer(id, answer)
    return toExample(this.repo.getExample(id)!)
  }

  /** Freezes the approved examples into a new immutable version (refused when none is approved). */
  freeze(datasetId: number, note: string | null): MethodOutput<'distill.datasets.freeze'> {
    const dataset = this.mustGet(datasetId)
    const approved = this.repo.approvedExamples(datasetId)
    if (approved.length === 0) {
      throw new ApiError({
        code: 'invalid_input',
        message: `Dataset ${dataset.name} has no approved example with an answer: approve some (review, or a judge) first.`,
        path: ['datasetId'],
      })
    }
    const examples = approved.map((row) => ({
      split: row.split,
      messages: JSON.stringify([
        ...(JSON.parse(row.prompt) as ChatMessage[]),
        { role: 'assistant', content: row.answer },
      ]),
      logprobs: row.logprobs,
    }))
    const digest = createHash('sha256')
    for (const example of examples) digest.update(`${example.split}\n${example.messages}\n${example.logprobs ?? ''}\n`)
    const trainCount = examples.filter((example) => example.split === 'train').length
    const withLogprobs = examples.filter((example) => example.logprobs !== null).length
    const counts = { approved: examples.length, train: trainCount, eval: examples.length - trainCount, withLogprobs }
    const id = this.repo.insertVersion(
      datasetId,
      {
        contentHash: digest.digest('hex'),
        trainCount,
        evalCount: counts.eval,
        withLogprobs,
        card: {
          dataset: dataset.name,
          note,
          sources: dataset.sources,
          teacher: dataset.teacher,
          judge: dataset.judge,
          counts,
        },
      },
      examples,
    )
    return this.repo.getVersion(id)!
  }

  /** Writes a version as JSONL (OpenAI chat, ShareGPT or Alpaca); the path of the file. */
  exportVersion(input: ParsedInput<'distill.datasets.export'>): MethodOutput<'distill.datasets.export'> {
    const version = this.repo.getVersion(input.versionId)
    if (!version) {
      throw new ApiError({
        code: 'not_found',
        message: `Dataset version ${input.versionId} does not exist.`,
        path: ['versionId'],
      })
    }
    const rows = this.repo.versionExamples(version.id, input.split)
    if (rows.length === 0) {
      throw new ApiError({
        code: 'invalid_input',
        message: `Version ${version.version} of ${version.card.dataset} has no ${input.split === 'all' ? '' : `${input.split} `}examples to export.`,
        path: ['split'],
      })
    }
    const path =
      input.path ??
      join(
        this.workspace.paths.exports,
        'datasets',
        `${version.card.dataset}-v${version.version}-${input.split}.${input.format}.jsonl`,
      )
    const lines = rows.map((row) =>
      formatExportLine(
        {
          messages: JSON.parse(row.messages) as ChatMessage[],
          logprobs: row.logprobs ? (JSON.parse(row.logprobs) as LogprobsRecord) : null,
        },
        input.format,
      ),
    )
    try {
      mkdirSync(dirname(path), { recursive: true })
      writeFileSync(path, `${lines.join('\n')}\n`)
    } catch (error) {
      throw new ApiError({
        code: 'invalid_input',
        message: `Cannot write ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`,
        path: ['path'],
      })
    }
    return { path, examples: rows.length, withLogprobs: rows.filter((row) => row.logprobs !== null).length }
  }

  /** `distill.train` with a dataset version: its train split as an OpenAI chat JSONL file (the eval split stays out). */
  resolveTrainData<T extends { data?: string | undefined; datasetVersionId?: number | undefined }>(input: T): T {
    if (input.datasetVersionId === undefined) return input
    return { ...input, data: this.exportDatasetVersion(input.datasetVersionId, 'openai', 'train') }
  }

  /** `distill.eval` with a dataset version: its eval split as an OpenAI chat JSONL file, every line of it used. */
  resolveEvalData<T extends { data?: string | undefined; datasetVersionId?: number | undefined; split: string }>(
    input: T,
  ): T & { data: string } {
    const { datasetVersionId, ...rest } = input
    if (datasetVersionId === undefined) return input as T & { data: string }
    // The file's name says which version it is (`<dataset>-v<N>-eval.openai.jsonl`); the evaluation keeps the path.
    return { ...rest, data: this.exportDatasetVersion(datasetVersionId, 'openai', 'eval'), split: 'all' } as T & {
      data: string
    }
  }

  /** For trainers and evaluation: a version's file in one format and split. */
  exportDatasetVersion(
    versionId: number,
    format: ExportFormat = 'openai',
    split: 'train' | 'eval' | 'all' = 'train',
  ): string {
    return this.exportVersion({ versionId, format, split }).path
  }
}
