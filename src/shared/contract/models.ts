/** The Models area of the contract: the model library, providers, generation, GGUF tools. */
import { z } from 'zod'
import { absolutePath, id, resourceName, timestamp } from './common'
import { jobSchema } from './core'

export const MODEL_SOURCES = ['file', 'library', 'download', 'quantized'] as const

export const modelProblemSchema = z.object({
  severity: z.enum(['error', 'warning']),
  code: z.string(),
  message: z.string(),
})

export const loadedModelSchema = z.object({
  gpuLayers: z.int().nonnegative(),
  contextSize: z.int().positive(),
  sequences: z.int().positive(),
  threads: z.int().positive(),
  trainContextSize: z.int().nonnegative(),
  sizeBytes: z.number().nonnegative(),
})
export type LoadedModel = z.infer<typeof loadedModelSchema>

/** A quantized model's quality report against its original, kept on the model (the quantize or compare job's). */
export const modelQualitySchema = z.object({
  positions: z.int().nonnegative(),
  meanKlDivergence: z.number(),
  maxKlDivergence: z.number(),
  top1Agreement: z.number(),
  original: z.object({ perplexity: z.number(), tokensPerSecond: z.number(), sizeBytes: z.number() }),
  quantized: z.object({ perplexity: z.number(), tokensPerSecond: z.number(), sizeBytes: z.number() }),
  /** The model it was measured against (its name, and its id while it exists). */
  originalModel: z.object({ id: z.int().nullable(), name: z.string() }),
  /** File sizes on disk (original, quantized). */
  fileSizes: z.object({ original: z.number(), quantized: z.number() }).nullable(),
  /** "sample": the built-in evaluation text; "custom": text the operator gave. */
  text: z.enum(['sample', 'custom']),
  measuredAt: timestamp,
})
export type ModelQuality = z.infer<typeof modelQualitySchema>

export const modelSchema = z.object({
  id,
  name: z.string(),
  path: z.string(),
  source: z.enum(MODEL_SOURCES),
  sourceUri: z.string().nullable(),
  sizeBytes: z.number().nonnegative(),
  fileModifiedAt: timestamp,
  /** SHA-256 of the file, once the background hash job has run (provenance for cached answers). */
  sha256: z.string().nullable(),
  architecture: z.string().nullable(),
  parameterCount: z.number().nonnegative().nullable(),
  contextLength: z.number().nonnegative().nullable(),
  fileType: z.string().nullable(),
  summary: z.object({
    tensorTypeCounts: z.record(z.string(), z.number()),
    parameterCountsByType: z.record(z.string(), z.number()),
    fileTypeSource: z.string(),
    tokenizerModel: z.string().nullable(),
    vocabularySize: z.number().nullable(),
    hasChatTemplate: z.boolean(),
    embeddingLength: z.number().nullable(),
    blockCount: z.number().nullable(),
    ggufVersion: z.number(),
  }),
  problems: z.array(modelProblemSchema),
  /** Where Larder made this model from (a distillation run: base, dataset hash, hyperparameters, metrics). */
  provenance: z.record(z.string(), z.unknown()).nullable(),
  /** The latest quality report against its original (quantized models), or null. */
  quality: modelQualitySchema.nullable(),
  /** A LoRA adapter: the library model it is served on (llama.cpp loads the base and applies the adapter). */
  baseModel: z.object({ id, name: z.string() }).nullable(),
  loaded: loadedModelSchema.nullable(),
  addedAt: timestamp,
})
export type Model = z.infer<typeof modelSchema>

export const providerSchema = z.object({
  id,
  name: z.string(),
  kind: z.literal('openai'),
  baseUrl: z.string(),
  model: z.string(),
  concurrency: z.int().positive(),
  /** The key itself never leaves the backend. */
  hasApiKey: z.boolean(),
  createdAt: timestamp,
})
export type ProviderConfig = z.infer<typeof providerSchema>

const modelName = resourceName

export const chatMessageSchema = z.object({
  role: z.enum(['system', 'user', 'assistant']),
  content: z.string().max(200_000),
})

export const samplingSchema = z.object({
  maxTokens: z.int().min(1).max(32_768).default(256),
  temperature: z.number().min(0).max(5).optional(),
  topP: z.number().min(0).max(1).optional(),
  topK: z.int().min(0).max(1000).optional(),
  seed: z
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .optional(),
  stop: z.array(z.string().min(1).max(100)).max(8).optional(),
})

export const generationTargetSchema = z.union([z.object({ model: id }).strict(), z.object({ provider: id }).strict()])

export const generateInputSchema = z
  .object({
    target: generationTargetSchema,
    prompt: z.string().max(200_000).optional(),
    messages: z.array(chatMessageSchema).min(1).max(200).optional(),
    sampling: samplingSchema.prefault({}),
    jsonSchema: z.record(z.string(), z.unknown()).optional(),
    /** When given, text is streamed as stream.token events with this id while the call runs. */
    streamId: z.string().min(1).max(100).optional(),
  })
  .strict()
  .refine((value) => (value.prompt === undefined) !== (value.messages === undefined), {
    message: 'give either prompt or messages',
    path: ['prompt'],
  })

/** File types the quantizer writes, named as llama-quantize names them, best quality first. */
export const QUANTIZATION_TYPES = [
  'Q8_0',
  'Q6_K',
  'Q5_K_M',
  'Q5_K_S',
  'Q5_1',
  'Q5_0',
  'Q4_K_M',
  'Q4_K_S',
  'Q4_1',
  'Q4_0',
  'Q3_K_L',
  'Q3_K_M',
  'Q3_K_S',
  'Q2_K',
  'Q2_K_S',
  'F16',
] as const
export type QuantizationType = (typeof QUANTIZATION_TYPES)[number]

/** Tensor types that --output-tensor-type / --token-embedding-type may name. */
export const TENSOR_TYPES = [
  'F32',
  'F16',
  'Q8_0',
  'Q6_K',
  'Q5_K',
  'Q5_1',
  'Q5_0',
  'Q4_K',
  'Q4_1',
  'Q4_0',
  'Q3_K',
  'Q2_K',
] as const

/** llama-quantize's options, shared by a single quantization and a comparison of several types. */
export const quantizeOptionsSchema = z.object({
  /** An importance matrix written by llama.cpp's llama-imatrix (GGUF or legacy .dat). */
  imatrixPath: absolutePath.optional(),
  /** Every eligible tensor gets the file type's main type (--pure). */
  pure: z.boolean().default(false),
  /** Keep output.weight as it is (--leave-output-tensor). */
  leaveOutputTensor: z.boolean().default(false),
  outputTensorType: z.enum(TENSOR_TYPES).optional(),
  tokenEmbeddingType: z.enum(TENSOR_TYPES).optional(),
  /** Dequantize and quantize again a model that is already quantized (--allow-requantize); errors compound. */
  allowRequantize: z.boolean().default(false),
})

export const quantizationPlanSchema = z.object({
  type: z.enum(QUANTIZATION_TYPES),
  /** Size of the tensors in the quantized file. */
  bytes: z.number().nonnegative(),
  bitsPerWeight: z.number().nonnegative(),
  /** Tensors whose rows fit no type of the mixture and fall back (to Q4_0/Q5_0/Q5_1/Q8_0/F16). */
  fallbacks: z.int().nonnegative(),
  requiresImatrix: z.boolean(),
  tensorTypeCounts: z.record(z.string(), z.number()),
  /** Why this type cannot be made from this model with these options, or null. */
  problem: z.string().nullable(),
})
export type QuantizationPlan = z.infer<typeof quantizationPlanSchema>

export const modelMethods = {
  'models.list': {
    input: z.object({}).strict(),
    output: z.object({ items: z.array(modelSchema), libraryDir: z.string() }),
  },
  'models.get': {
    input: z.object({ id }).strict(),
    output: modelSchema,
  },
  'models.register': {
    input: z
      .object({
        path: absolutePath,
        name: modelName.optional(),
        /** For a LoRA adapter file: the registered model it applies to. */
        base: id.optional(),
      })
      .strict(),
    output: modelSchema,
  },
  'models.scan': {
    input: z.object({ dir: absolutePath.optional() }).strict(),
    output: z.object({ added: z.array(modelSchema), updated: z.array(modelSchema), missing: z.array(z.string()) }),
  },
  'models.unregister': {
    input: z.object({ id, deleteFile: z.boolean().default(false) }).strict(),
    output: z.object({ deletedFile: z.boolean() }),
  },
  'models.pull': {
    input: z.object({ uri: z.string().min(4).max(2000), name: modelName.optional() }).strict(),
    output: z.object({ job: jobSchema }),
  },
  'models.load': {
    input: z
      .object({
        id,
        contextSize: z.int().min(64).max(1_048_576).optional(),
        gpuLayers: z.union([z.literal('auto'), z.int().min(0).max(10_000)]).optional(),
        threads: z.int().min(1).max(512).optional(),
        sequences: z.int().min(1).max(64).optional(),
        gpu: z.enum(['auto', 'cpu']).optional(),
      })
      .strict(),
    output: modelSchema,
  },
  'models.unload': {
    input: z.object({ id }).strict(),
    output: modelSchema,
  },
  'models.system': {
    input: z.object({ probeGpu: z.boolean().default(false) }).strict(),
    output: z.object({
      workerRunning: z.boolean(),
      defaultThreads: z.int().positive(),
      logicalCores: z.int().positive(),
      gpu: z
        .object({
          type: z.union([z.string(), z.literal(false)]),
          devices: z.array(z.string()),
          vram: z.object({ total: z.number(), used: z.number(), free: z.number() }).nullable(),
        })
        .nullable(),
    }),
  },
  'models.generate': {
    input: generateInputSchema,
    output: z.object({
      text: z.string(),
      tokensIn: z.int().nonnegative(),
      tokensOut: z.int().nonnegative(),
      finishReason: z.enum(['stop', 'length', 'aborted']),
      durationMs: z.number().nonnegative(),
      tokensPerSecond: z.number().nonnegative(),
      providerId: z.string(),
    }),
  },
  'models.stop': {
    input: z.object({ streamId: z.string().min(1).max(100) }).strict(),
    output: z.object({ stopped: z.boolean() }),
  },
  'providers.test': {
    input: z.object({ id }).strict(),
    output: z.object({ ok: z.boolean(), latencyMs: z.number().nonnegative(), message: z.string() }),
  },
  'providers.list': {
    input: z.object({}).strict(),
    output: z.object({ items: z.array(providerSchema) }),
  },
  'providers.save': {
    input: z
      .object({
        id: id.optional(),
        name: modelName,
        baseUrl: z.url({ protocol: /^https?$/ }),
        apiKey: z.string().max(1000).optional(),
        model: z.string().min(1).max(200),
        concurrency: z.int().min(1).max(1024).default(4),
      })
      .strict(),
    output: providerSchema,
  },
  'providers.remove': {
    input: z.object({ id }).strict(),
    output: z.object({ removed: z.boolean() }),
  },
  'gguf.quantize': {
    input: quantizeOptionsSchema
      .extend({
        id,
        type: z.enum(QUANTIZATION_TYPES),
        name: modelName.optional(),
        /** Measure quality against the original afterwards (KL divergence, top-1 agreement, perplexity). */
        evaluate: z.boolean().default(true),
      })
      .strict(),
    output: z.object({ job: jobSchema }),
  },
  /** What each file type would give for this model (sizes, bits per weight, fallbacks), from its header alone. */
  'gguf.plan': {
    input: quantizeOptionsSchema.omit({ imatrixPath: true }).extend({ id }).strict(),
    output: z.object({
      sourceBytes: z.number().nonnegative(),
      parameterCount: z.number().nonnegative(),
      items: z.array(quantizationPlanSchema),
    }),
  },
  /** Quantizes the model to several types and measures each against the original (the quality report). */
  'gguf.sweep': {
    input: quantizeOptionsSchema
      .extend({
        id,
        types: z.array(z.enum(QUANTIZATION_TYPES)).min(1).max(QUANTIZATION_TYPES.length),
        text: z.string().min(1).max(1_000_000).optional(),
        maxPositions: z.int().min(8).max(100_000).default(256),
      })
      .strict(),
    output: z.object({ job: jobSchema }),
  },
  'gguf.compare': {
    input: z
      .object({
        originalId: id,
        quantizedId: id,
        text: z.string().min(1).max(1_000_000).optional(),
        maxPositions: z.int().min(8).max(100_000).default(512),
      })
      .strict(),
    output: z.object({ job: jobSchema }),
  },
} as const

export const modelEvents = {
  /** The model worker process stopped (crash, native abort, kill); the models it had loaded are unloaded. */
  'models.worker': z.object({ reason: z.string(), lostModels: z.array(z.string()) }),
  /** A model was registered, changed, loaded, unloaded or removed. */
  'models.changed': z.object({ id, removed: z.boolean() }),
} as const
