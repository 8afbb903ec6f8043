import { readFileSync, rmSync } from 'node:fs'
/** `larder models ...` and `larder gguf ...`. */
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { InvalidArgumentError } from 'commander'
import type { Job, Model } from '../../shared/contract'
import { qualityVerdict, VERDICT_WORDS } from '../../shared/quality-verdict'
import { QUANTIZATION_TYPES, TENSOR_TYPES, type QuantizationType } from '../../shared/contract'
import { ApiError } from '../../shared/errors'
import { benchModel } from '../../backend/models/bench'
import { ModelHost, defaultThreads } from '../../backend/models/model-host'
import { SAMPLE_EVALUATION_TEXT } from '../../backend/models/sample-text'
import { formatBytes } from '../../backend/models/service'
import {
  CHATML_TEMPLATE,
  checkModelFile,
  describeValue,
  planQuantization,
  quantizeGgufFile,
  readGgufFile,
  readImportanceMatrix,
  summarizeGguf,
  summarizePlan,
  tokenizerMetadataOf,
  writeTinyLlamaGguf,
  type QuantizeFileResult,
} from '../../backend/gguf/index'
import { jobProgressReporter } from '../progress'
import { EXIT } from '../exit-codes'
import type { CliContext } from '../main'
import { CliExit, positiveInt as positiveIntOption } from '../options'

/** llama-quantize's aliases: Q3_K, Q4_K and Q5_K mean their _M mixtures. */
const typeAliases: Record<string, QuantizationType> = { Q3_K: 'Q3_K_M', Q4_K: 'Q4_K_M', Q5_K: 'Q5_K_M' }

/** Accepts q4_k_m as well as Q4_K_M, and llama-quantize's aliases. */
/** A registered model named by id or name (an adapter's --base). */
async function baseModelId(backend: { call(method: string, input: unknown): Promise<unknown> }, ref: string) {
  const { items } = (await backend.call('models.list', {})) as { items: Model[] }
  const model = items.find((m) => m.name === ref) ?? items.find((m) => String(m.id) === ref)
  if (!model)
    throw new ApiError({
      code: 'not_found',
      message: `No registered model is named "${ref}" (larder models list shows them).`,
      path: ['base'],
    })
  return model.id
}

function quantizationType(value: string): QuantizationType {
  const upper = value.toUpperCase()
  const type = typeAliases[upper] ?? upper
  if (!(QUANTIZATION_TYPES as readonly string[]).includes(type)) {
    throw new InvalidArgumentError(`must be one of ${QUANTIZATION_TYPES.join(', ')} (any case)`)
  }
  return type as QuantizationType
}

/** A tensor type for --output-tensor-type / --token-embedding-type. */
function tensorType(value: string): (typeof TENSOR_TYPES)[number] {
  const upper = value.toUpperCase()
  if (!(TENSOR_TYPES as readonly string[]).includes(upper)) {
    throw new InvalidArgumentError(`must be one of ${TENSOR_TYPES.join(', ')} (any case)`)
  }
  return upper as (typeof TENSOR_TYPES)[number]
}

interface QuantizeCliOptions {
  type: QuantizationType
  imatrix?: string
  outputTensorType?: (typeof TENSOR_TYPES)[number]
  tokenEmbeddingType?: (typeof TENSOR_TYPES)[number]
  pure?: boolean
  leaveOutputTensor?: boolean
  allowRequantize?: boolean
}

/** The llama-quantize options as the contract's quantize options. */
function quantizeOptions(options: QuantizeCliOptions) {
  return {
    pure: options.pure ?? false,
    leaveOutputTensor: options.leaveOutputTensor ?? false,
    allowRequantize: options.allowRequantize ?? false,
    ...(options.imatrix && { imatrixPath: resolve(options.imatrix) }),
    ...(options.outputTensorType && { outputTensorType: options.outputTensorType }),
    ...(options.tokenEmbeddingType && { tokenEmbeddingType: options.tokenEmbeddingType }),
  }
}

function list(value: string): number[] {
  const numbers = value.split(',').map((part) => Number(part.trim()))
  if (numbers.some((n) => !Number.isInteger(n) || n < 1 || n > 64)) {
    throw new InvalidArgumentError('must be a comma-separated list of whole numbers 1..64, e.g. 1,4,8')
  }
  return numbers
}

async function findModel(
  context: CliContext,
  command: Command,
  nameOrId: string,
): Promise<{ model: Model; close(): Promise<void>; backend: ReturnType<CliContext['openBackend']> }> {
  const backend = context.openBackend(command)
  const { items } = (await backend.call('models.list', {})) as { items: Model[] }
  const model = items.find((m) => m.name === nameOrId || String(m.id) === nameOrId || m.path === resolve(nameOrId))
  if (!model) {
    await backend.close()
    throw new ApiError({ code: 'not_found', message: `No model named "${nameOrId}". See \`larder models list\`.` })
  }
  return { model, backend, close: () => backend.close() }
}

export function registerModelCommands(program: Command, context: CliContext): void {
  const { io } = context
  const models = program.command('models').description('The model library: GGUF files, downloads, benchmarks.')

  models
    .command('list')
    .description('List registered models (files copied into <home>/models are picked up).')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const backend = context.openBackend(command)
      try {
        const { items, libraryDir } = (await backend.call('models.list', {})) as { items: Model[]; libraryDir: string }
        if (options.json) {
          io.out(`${JSON.stringify({ items, libraryDir }, null, 2)}\n`)
          return
        }
        if (items.length === 0)
          io.out(`No models yet. Add one with \`larder models add FILE\` or copy .gguf files into ${libraryDir}.\n`)
        for (const m of items) {
          const params = m.parameterCount
            ? `${(m.parameterCount / 1e6).toFixed(m.parameterCount < 1e7 ? 2 : 0)}M params`
            : ''
          const problems = m.problems.some((p) => p.severity === 'error') ? '  [cannot load: see models show]' : ''
          const quality = m.quality
            ? `  quality vs ${m.quality.originalModel.name}: ${VERDICT_WORDS[qualityVerdict(m.quality).level]} (top-1 ${(m.quality.top1Agreement * 100).toFixed(1)}%)`
            : ''
          io.out(
            `${String(m.id).padStart(4)}  ${m.name.padEnd(32)} ${(m.fileType ?? '?').padEnd(14)} ${formatBytes(m.sizeBytes).padStart(9)}  ${params}${problems}${quality}\n`,
          )
        }
      } finally {
        await backend.close()
      }
    })

  models
    .command('add')
    .description('Register a GGUF file where it lies (its header is read; weights are not loaded).')
    .argument('<file>', 'path to a .gguf file')
    .option('--name <name>', 'name to use (default: from the file)')
    .option('--base <model>', 'for a LoRA adapter GGUF: the registered model (name or id) it applies to')
    .action(async (file: string, options: { name?: string; base?: string }, command: Command) => {
      const backend = context.openBackend(command)
      try {
        const base = options.base === undefined ? undefined : await baseModelId(backend, options.base)
        const model = (await backend.call('models.register', {
          path: resolve(file),
          ...(options.name ? { name: options.name } : {}),
          ...(base !== undefined ? { base } : {}),
        })) as Model
        io.out(
          `Registered ${model.name} (${model.architecture ?? 'unknown architecture'}, ${model.fileType ?? '?'}, ${formatBytes(model.sizeBytes)}${model.baseModel ? `, LoRA on ${model.baseModel.name}` : ''}).\n`,
        )
        for (const problem of model.problems) io.out(`  ${problem.severity}: ${problem.message}\n`)
      } finally {
        await backend.close()
      }
    })

  models
    .command('pull')
    .description('Download a model (hf:user/repo/file.gguf or an https URL) into the library, with resume.')
    .argument('<uri>', 'hf: URI or https URL')
    .option('--name <name>', 'name to register it under')
    .option('--json', 'print the finished job as JSON')
    .action(async (uri: string, options: { name?: string; json?: boolean }, command: Command) => {
      const backend = context.openBackend(command)
      try {
        const code = await context.runJobHere(
          backend,
          async () =>
            (
              (await backend.call('models.pull', { uri, ...(options.name ? { name: options.name } : {}) })) as {
                job: Job
              }
            ).job,
          options.json ?? false,
        )
        if (code !== EXIT.ok) throw new CliExit(code)
      } finally {
        await backend.close()
      }
    })

  models
    .command('generate')
    .description('Load a model and generate from a prompt, streaming the text (prints tokens/s at the end).')
    .argument('<name>', 'model name or id')
    .requiredOption('--prompt <text>', 'the prompt')
    .option('--max-tokens <n>', 'tokens to generate at most', positiveIntOption, 128)
    .option('--temperature <t>', 'sampling temperature', (value) => Number(value))
    .option('--seed <n>', 'sampling seed, for repeatable output', (value) => Number(value))
    .option('--threads <n>', `CPU threads (default here: ${defaultThreads()})`, positiveIntOption)
    .option('--cpu', 'keep everything on the CPU')
    .option('--json', 'print the result as JSON instead of streaming')
    .action(
      async (
        name: string,
        options: {
          prompt: string
          maxTokens: number
          temperature?: number
          seed?: number
          threads?: number
          cpu?: boolean
          json?: boolean
        },
        command: Command,
      ) => {
        const found = await findModel(context, command, name)
        try {
          const { backend, model } = found
          await backend.call('models.load', {
            id: model.id,
            ...(options.threads ? { threads: options.threads } : {}),
            ...(options.cpu ? { gpu: 'cpu' } : {}),
          })
          const streamId = `cli-${process.pid}`
          const unsubscribe = options.json
            ? () => undefined
            : backend.events.subscribe((event, payload) => {
                const token = payload as { streamId?: string; text?: string }
                if (event === 'stream.token' && token.streamId === streamId && token.text) io.out(token.text)
              })
          const result = (await backend.call('models.generate', {
            target: { model: model.id },
            prompt: options.prompt,
            sampling: {
              maxTokens: options.maxTokens,
              ...(options.temperature !== undefined ? { temperature: options.temperature } : {}),
              ...(options.seed !== undefined ? { seed: options.seed } : {}),
            },
            ...(options.json ? {} : { streamId }),
          })) as { text: string; tokensIn: number; tokensOut: number; tokensPerSecond: number; finishReason: string }
          unsubscribe()
          if (options.json) io.out(`${JSON.stringify(result, null, 2)}\n`)
          else
            io.err(
              `\n[${result.tokensIn} prompt tokens, ${result.tokensOut} generated, ${result.tokensPerSecond.toFixed(1)} tokens/s, ${result.finishReason}]\n`,
            )
        } finally {
          await found.close()
        }
      },
    )

  models
    .command('bench')
    .description('Measure prompt and generation tokens/s for 1, 4 and 8 parallel sequences.')
    .argument('<name>', 'model name or id')
    .option('--sequences <list>', 'parallel sequences to measure', list, [1, 4, 8])
    .option('--threads <n>', `CPU threads (default here: ${defaultThreads()})`, positiveIntOption)
    .option('--tokens <n>', 'tokens to generate per sequence', positiveIntOption, 64)
    .option('--prompt-tokens <n>', 'prompt length in tokens (about)', positiveIntOption, 128)
    .option('--cpu', 'keep everything on the CPU')
    .option('--json', 'print JSON')
    .action(
      async (
        name: string,
        options: {
          sequences: number[]
          threads?: number
          tokens: number
          promptTokens: number
          cpu?: boolean
          json?: boolean
        },
        command: Command,
      ) => {
        const found = await findModel(context, command, name)
        try {
          const threads = options.threads ?? defaultThreads()
          const rows = await benchModel(found.backend.models.host, found.model.path, {
            sequences: options.sequences,
            threads,
            contextSize: Math.min(found.model.contextLength ?? 2048, options.promptTokens * 2 + options.tokens + 64),
            promptTokens: options.promptTokens,
            generateTokens: options.tokens,
            gpu: options.cpu || process.env.LARDER_GPU === 'off' ? false : 'auto',
            onStep: (message) => io.err(`${message}\n`),
          })
          if (options.json) {
            io.out(`${JSON.stringify({ model: found.model.name, rows }, null, 2)}\n`)
            return
          }
          io.out(`${found.model.name} (${found.model.fileType ?? '?'}), ${threads} thread(s)\n`)
          io.out('sequences  prompt tok/s  generation tok/s  per-sequence tok/s\n')
          for (const row of rows) {
            io.out(
              `${String(row.sequences).padStart(9)}  ${row.promptTokensPerSecond.toFixed(1).padStart(12)}  ${row.generationTokensPerSecond.toFixed(1).padStart(16)}  ${row.perSequenceTokensPerSecond.toFixed(1).padStart(18)}\n`,
            )
          }
        } finally {
          await found.close()
        }
      },
    )
}

async function quantizeFileToFile(
  context: CliContext,
  input: string,
  output: string,
  options: QuantizeCliOptions & { json?: boolean },
): Promise<void> {
  const { io } = context
  const reporter = jobProgressReporter()
  const started = performance.now()
  let result: QuantizeFileResult
  try {
    const imatrix = options.imatrix ? await readImportanceMatrix(resolve(options.imatrix)) : undefined
    const { imatrixPath: _path, ...rest } = quantizeOptions(options)
    result = await quantizeGgufFile(resolve(input), resolve(output), {
      fileType: options.type,
      ...rest,
      // As llama-quantize does, quantize.imatrix.file records the path as given.
      ...(imatrix && options.imatrix && { imatrix, imatrixLabel: options.imatrix }),
      onProgress: (progress) =>
        reporter.update({
          progress: progress.bytesTotal > 0 ? progress.bytesDone / progress.bytesTotal : 0,
          progressMessage: `${progress.tensorsDone} of ${progress.tensorCount} tensors`,
          status: 'running',
        } as Job),
    })
    reporter.stop()
  } catch (error) {
    reporter.stop()
    throw new ApiError({ code: 'invalid_input', message: (error as Error).message })
  }
  const summary = {
    out: result.destinationPath,
    fileType: result.fileTypeName,
    sourceBytes: result.sourceFileSize,
    outputBytes: result.destinationFileSize,
    bitsPerWeight: result.bitsPerWeight,
    seconds: (performance.now() - started) / 1000,
    quantizedTensors: result.tensors.filter((t) => t.quantized).length,
    keptTensors: result.tensors.filter((t) => !t.quantized).length,
    tensorTypes: Object.fromEntries(
      [...new Set(result.tensors.map((t) => t.targetType))].map((type) => [
        type,
        result.tensors.filter((t) => t.targetType === type).length,
      ]),
    ),
    fallbacks: result.fallbacks.map((t) => ({ name: t.name, from: t.fallback?.from, to: t.targetType })),
    imatrix: result.imatrix,
    warnings: result.warnings,
  }
  if (options.json) {
    io.out(`${JSON.stringify(summary, null, 2)}\n`)
    return
  }
  for (const warning of result.warnings) io.err(`warning: ${warning}\n`)
  io.out(
    `Wrote ${summary.out}: ${summary.fileType}, ${formatBytes(summary.outputBytes)} (from ${formatBytes(summary.sourceBytes)}), ` +
      `${summary.bitsPerWeight.toFixed(2)} bits per weight, ${summary.quantizedTensors} tensors quantized, ${summary.keptTensors} kept, ` +
      `${summary.seconds.toFixed(2)} s.\n`,
  )
  io.out(
    `  tensor types: ${Object.entries(summary.tensorTypes)
      .map(([type, count]) => `${count} ${type}`)
      .join(', ')}\n`,
  )
  if (result.imatrix) {
    io.out(
      `  importance matrix: ${result.imatrix.tensorsWithData.length} tensors weighted, ${result.imatrix.tensorsWithoutData.length} without data\n`,
    )
  }
}

export function registerGgufCommands(program: Command, context: CliContext): void {
  const { io } = context
  const group = program.command('gguf').description('Inspect and quantize GGUF files.')

  group
    .command('inspect')
    .description("Show a GGUF file's header: architecture, parameters, tensor types, metadata, problems.")
    .argument('<file>', 'path to a .gguf file')
    .option('--json', 'print JSON')
    .option('--metadata', 'also list every metadata key')
    .action(async (file: string, options: { json?: boolean; metadata?: boolean }) => {
      const check = await checkModelFile(resolve(file))
      if (!check.file) {
        io.err(`${file}: ${check.problems.map((p) => p.message).join('; ')}\n`)
        throw new CliExit(EXIT.failed)
      }
      const summary = summarizeGguf(check.file)
      if (options.json) {
        io.out(`${JSON.stringify({ summary, problems: check.problems }, null, 2)}\n`)
      } else {
        io.out(`${file}\n  architecture: ${summary.architecture ?? '?'}\n  parameters: ${summary.parameterCount}\n`)
        io.out(
          `  context length: ${summary.contextLength ?? '?'}\n  file type: ${summary.fileType ?? '?'} (${summary.fileTypeSource})\n`,
        )
        io.out(
          `  tensors: ${Object.entries(summary.tensorTypeCounts)
            .map(([type, count]) => `${count} ${type}`)
            .join(', ')}\n`,
        )
        io.out(
          `  tokenizer: ${summary.tokenizerModel ?? '?'}, ${summary.vocabularySize ?? '?'} tokens, chat template: ${summary.hasChatTemplate ? 'yes' : 'no'}\n`,
        )
        for (const problem of check.problems) io.out(`  ${problem.severity}: ${problem.message}\n`)
        if (options.metadata)
          for (const [key, value] of check.file.metadata) io.out(`  ${key} = ${describeValue(value)}\n`)
      }
      if (check.problems.some((p) => p.severity === 'error')) throw new CliExit(EXIT.failed)
    })

  group
    .command('quantize')
    .description(
      `Quantize like llama.cpp's llama-quantize (same tensor types, same bytes): ${QUANTIZATION_TYPES.join(', ')}. ` +
        'With IN and OUT files it writes OUT directly; with a registered model it adds the result to the library ' +
        'and reports its quality against the original.',
    )
    .argument('<model-or-in>', 'registered model name or id, or a GGUF file')
    .argument('[out]', 'output file (file-to-file mode)')
    .requiredOption('--type <type>', 'file type, e.g. Q4_K_M, q8_0 (Q4_K means Q4_K_M)', quantizationType)
    .option('--imatrix <file>', "importance matrix from llama.cpp's llama-imatrix (GGUF or legacy .dat)")
    .option('--output-tensor-type <type>', 'tensor type for output.weight', tensorType)
    .option('--token-embedding-type <type>', 'tensor type for token_embd.weight', tensorType)
    .option('--pure', "no mixture: every eligible tensor gets the file type's main type")
    .option('--leave-output-tensor', 'keep output.weight as it is')
    .option('--allow-requantize', 'dequantize and quantize again an already-quantized model (errors compound)')
    .option('--name <name>', 'library mode: name of the new model (default: <model>-<type>)')
    .option('--no-evaluate', 'library mode: skip the quality report against the original')
    .option('--json', 'print the result as JSON')
    .action(
      async (
        modelArg: string,
        outArg: string | undefined,
        options: QuantizeCliOptions & { name?: string; evaluate: boolean; json?: boolean },
        command: Command,
      ) => {
        if (outArg) {
          await quantizeFileToFile(context, modelArg, outArg, options)
          return
        }
        const backend = context.openBackend(command)
        try {
          let id = Number(modelArg)
          if (!Number.isInteger(id)) {
            const { items } = (await backend.call('models.list', {})) as { items: Model[] }
            const byName = items.find((m) => m.name === modelArg)
            id = byName ? byName.id : ((await backend.call('models.register', { path: resolve(modelArg) })) as Model).id
          }
          const code = await context.runJobHere(
            backend,
            async () =>
              (
                (await backend.call('gguf.quantize', {
                  id,
                  type: options.type,
                  evaluate: options.evaluate,
                  ...quantizeOptions(options),
                  ...(options.name ? { name: options.name } : {}),
                })) as { job: Job }
              ).job,
            options.json ?? false,
          )
          if (code !== EXIT.ok) throw new CliExit(code)
        } finally {
          await backend.close()
        }
      },
    )

  group
    .command('plan')
    .description(
      'What each file type gives for a GGUF file: size, bits per weight, fallbacks; or, with --type, every tensor.',
    )
    .argument('<file>', 'path to a .gguf file')
    .option('--type <type>', 'list the tensor types this file type picks, and why', quantizationType)
    .option('--json', 'print JSON')
    .action(async (file: string, options: { type?: QuantizationType; json?: boolean }) => {
      const gguf = await readGgufFile(resolve(file))
      if (options.type) {
        const plans = planQuantization(gguf, options.type, { allowRequantize: true })
        if (options.json) io.out(`${JSON.stringify(plans, null, 2)}\n`)
        else
          for (const plan of plans)
            io.out(
              `${plan.name.padEnd(36)} ${plan.sourceType.padStart(5)} -> ${plan.targetType.padEnd(5)} ${plan.reason}\n`,
            )
        return
      }
      const rows = QUANTIZATION_TYPES.map((type) => {
        try {
          return summarizePlan(gguf, type, planQuantization(gguf, type, { allowRequantize: true }))
        } catch (error) {
          return { fileType: type, problem: (error as Error).message }
        }
      })
      if (options.json) {
        io.out(`${JSON.stringify(rows, null, 2)}\n`)
        return
      }
      io.out(`${'type'.padEnd(8)}${'size'.padStart(12)}${'bits/weight'.padStart(13)}  notes\n`)
      for (const row of rows) {
        if ('problem' in row) {
          io.out(`${row.fileType.padEnd(8)}${''.padStart(25)}  ${row.problem}\n`)
          continue
        }
        const notes = [
          row.fallbacks > 0 ? `${row.fallbacks} tensors fall back (rows not multiples of 256)` : '',
          row.requiresImatrix ? 'needs --imatrix' : '',
        ].filter(Boolean)
        io.out(
          `${row.fileType.padEnd(8)}${formatBytes(row.targetBytes).padStart(12)}${row.bitsPerWeight.toFixed(2).padStart(13)}  ${notes.join('; ')}\n`,
        )
      }
    })

  group
    .command('tiny')
    .description(
      'Write a small llama model (byte-level vocab, random weights from the seed) for tests, demos and as a student to train from scratch.',
    )
    .requiredOption('--out <file>', 'output .gguf file')
    .option('--seed <n>', 'seed for the weights', (value) => Number(value), 42)
    .option('--type <type>', 'f32, f16 or a quantization type (q8_0, q4_k_m, ...)', 'f32')
    .option('--dims <n>', 'embedding size', positiveIntOption, 64)
    .option('--layers <n>', 'transformer blocks', positiveIntOption, 2)
    .option('--heads <n>', 'attention heads (dims / heads must be even)', positiveIntOption, 4)
    .option('--ff <n>', 'feed-forward size', positiveIntOption, 128)
    .option('--context <n>', 'context length', positiveIntOption, 256)
    .option('--vocab-from <file>', "use this GGUF model's tokenizer (and chat template) instead of the byte-level one")
    .option('--chat-template <template>', "store this Jinja chat template ('chatml' for ChatML)")
    .option('--untied-output', 'give the model its own output.weight (the default; training needs it)')
    .option('--tied-output', 'share the token embedding as the output projection (cannot be trained as is)')
    .action(
      async (options: {
        out: string
        seed: number
        type: string
        dims: number
        layers: number
        heads: number
        ff: number
        context: number
        vocabFrom?: string
        chatTemplate?: string
        untiedOutput?: boolean
        tiedOutput?: boolean
      }) => {
        const refuse = (message: string): never => {
          throw new ApiError({ code: 'invalid_input', message })
        }
        if (options.untiedOutput && options.tiedOutput) refuse('Choose --untied-output or --tied-output, not both.')
        if (options.dims % options.heads !== 0 || (options.dims / options.heads) % 2 !== 0) {
          refuse(`--dims ${options.dims} must split into ${options.heads} heads of an even size.`)
        }
        const type = options.type.toUpperCase()
        const out = resolve(options.out)
        const shape = {
          seed: options.seed,
          embeddingLength: options.dims,
          blockCount: options.layers,
          headCount: options.heads,
          feedForwardLength: options.ff,
          contextLength: options.context,
          tiedEmbeddings: options.tiedOutput === true,
          ...(options.chatTemplate
            ? { chatTemplate: options.chatTemplate === 'chatml' ? CHATML_TEMPLATE : options.chatTemplate }
            : {}),
          ...(options.vocabFrom
            ? { tokenizer: tokenizerMetadataOf((await readGgufFile(resolve(options.vocabFrom))).metadata) }
            : {}),
        }
        if (type === 'F32' || type === 'F16') {
          await writeTinyLlamaGguf(out, { ...shape, weightType: type })
        } else {
          const target = quantizationType(type)
          const source = `${out}.f32-${process.pid}`
          try {
            await writeTinyLlamaGguf(source, shape)
            await quantizeGgufFile(source, out, { fileType: target })
          } finally {
            rmSync(source, { force: true })
          }
        }
        io.out(`Wrote ${out} (${type}, seed ${options.seed}).\n`)
      },
    )

  group
    .command('compare')
    .description(
      'Quality of a quantized model against its original: mean KL divergence, top-1 agreement, perplexity, size, tokens/s.',
    )
    .argument('<original>', 'original GGUF file')
    .argument('<quantized>', 'quantized GGUF file')
    .option('--text <file>', 'text to score (default: a built-in sample)')
    .option('--max-tokens <n>', 'score at most this many token positions', positiveIntOption, 512)
    .option('--threads <n>', 'CPU threads', positiveIntOption)
    .option('--json', 'print JSON')
    .action(
      async (
        originalFile: string,
        quantizedFile: string,
        options: { text?: string; maxTokens: number; threads?: number; json?: boolean },
      ) => {
        for (const file of [originalFile, quantizedFile]) {
          const check = await checkModelFile(resolve(file))
          if (!check.file || check.problems.some((p) => p.severity === 'error')) {
            io.err(`${file} cannot be loaded safely: ${check.problems.map((p) => p.message).join('; ')}\n`)
            throw new CliExit(EXIT.failed)
          }
        }
        const text = options.text ? readFileSync(resolve(options.text), 'utf8') : SAMPLE_EVALUATION_TEXT
        const host = new ModelHost()
        try {
          const report = await host.compare(
            {
              originalPath: resolve(originalFile),
              quantizedPath: resolve(quantizedFile),
              text,
              maxPositions: options.maxTokens,
              contextSize: Math.min(4096, options.maxTokens + 16),
              threads: options.threads ?? defaultThreads(),
            },
            (done, total) => io.err(`\rscored ${done} of ${total} tokens`),
          )
          io.err('\n')
          if (options.json) {
            io.out(`${JSON.stringify(report, null, 2)}\n`)
            return
          }
          const row = (label: string, a: string, b: string): string =>
            `${label.padEnd(22)}${a.padStart(14)}${b.padStart(14)}\n`
          io.out(`Scored ${report.positions} token positions.\n`)
          io.out(
            `mean KL divergence    ${report.meanKlDivergence.toFixed(6)}  (max ${report.maxKlDivergence.toFixed(6)})\n`,
          )
          io.out(`top-1 agreement       ${(report.top1Agreement * 100).toFixed(2)}%\n\n`)
          io.out(row('', 'original', 'quantized'))
          io.out(row('perplexity', report.original.perplexity.toFixed(4), report.quantized.perplexity.toFixed(4)))
          io.out(row('size', formatBytes(report.original.sizeBytes), formatBytes(report.quantized.sizeBytes)))
          io.out(
            row(
              'eval tokens/s',
              report.original.tokensPerSecond.toFixed(1),
              report.quantized.tokensPerSecond.toFixed(1),
            ),
          )
          const verdict = qualityVerdict(report)
          io.out(`\nVerdict: ${VERDICT_WORDS[verdict.level]}.\n`)
          for (const reason of verdict.reasons) io.out(`  - ${reason.message}\n`)
        } finally {
          await host.stop()
        }
      },
    )
}
