/**
 * Students: the GGUF files the built-in trainer starts from. llama.cpp's training API only trains F32 tensors and
 * keeps `token_embd` frozen, so a trainable student is all-F32 with its own `output.weight`. A model that is not
 * (F16, Q8_0, Q4_0..., or tied embeddings) is converted first by our own code: every tensor dequantized to F32, and
 * a tied output projection untied by copying the token embedding. A type we cannot dequantize is refused with the
 * tensor and type named, before any training starts.
 */
import { open } from 'node:fs/promises'
import {
  checkModelFile,
  dequantizerFor,
  GgmlType,
  gguf,
  hasErrors,
  LlamaFileType,
  metadataString,
  readGgufFile,
  readTensorRows,
  tokenizerMetadataOf,
  writeGgufFile,
  writeTinyLlamaGguf,
  type GgufFile,
  type GgufTensorInfo,
  type GgufTensorToWrite,
  type GgufValue,
} from '../gguf/index'

/** The architectures the built-in trainer has been verified on. */
export const TRAINABLE_ARCHITECTURES = ['llama'] as const

export class StudentError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'StudentError'
  }
}

export interface StudentCheck {
  file: GgufFile
  architecture: string
  /** Tensors that are not F32 and must be dequantized, by type name. */
  convertTypes: Record<string, number>
  /** The file has no output.weight: the output projection is tied to the token embedding. */
  tied: boolean
  blockCount: number
  contextLength: number
  vocabularySize: number
  parameterCount: number
}

/** Reads and checks a student file; throws a `StudentError` that says what is wrong and what to do. */
export async function checkStudent(path: string): Promise<StudentCheck> {
  const check = await checkModelFile(path)
  if (!check.file) {
    throw new StudentError(
      `${path} is not a GGUF model: ${check.problems.map((problem) => problem.message).join('; ')}`,
    )
  }
  if (hasErrors(check.problems)) {
    throw new StudentError(
      `${path} would not load in llama.cpp: ${check.problems
        .filter((problem) => problem.severity === 'error')
        .map((problem) => problem.message)
        .join('; ')}`,
    )
  }
  const file = check.file
  const architecture = metadataString(file.metadata, 'general.architecture') ?? 'unknown'
  if (!(TRAINABLE_ARCHITECTURES as readonly string[]).includes(architecture)) {
    throw new StudentError(
      `The student is a "${architecture}" model; the built-in trainer trains llama-architecture students only. ` +
        'Make one with `larder gguf tiny` (or the form\'s "new student"), or use an external trainer.',
    )
  }
  const convertTypes: Record<string, number> = {}
  for (const tensor of file.tensors) {
    if (tensor.type === GgmlType.F32) continue
    dequantizerFor(tensor.name, tensor.type) // throws UnsupportedTensorTypeError with the tensor named
    convertTypes[tensor.typeName] = (convertTypes[tensor.typeName] ?? 0) + 1
  }
  const number = (key: string): number => {
    const value = file.metadata.get(key)
    return value && typeof value.value === 'number' ? value.value : 0
  }
  const tokens = file.metadata.get('tokenizer.ggml.tokens')
  return {
    file,
    architecture,
    convertTypes,
    tied: !file.tensors.some((tensor) => tensor.name === 'output.weight'),
    blockCount: number(`${architecture}.block_count`),
    contextLength: number(`${architecture}.context_length`),
    vocabularySize: tokens?.type === 'array' ? tokens.value.values.length : 0,
    parameterCount: file.tensors.reduce((sum, tensor) => sum + tensor.elementCount, 0),
  }
}

export function needsConversion(check: StudentCheck): boolean {
  return check.tied || Object.keys(check.convertTypes).length > 0
}

async function* tensorAsF32(path: string, tensor: GgufTensorInfo): AsyncGenerator<Uint8Array> {
  const dequantize = dequantizerFor(tensor.name, tensor.type)
  const handle = await open(path, 'r')
  try {
    for await (const chunk of readTensorRows(handle, tensor)) {
      const values = dequantize(chunk.bytes)
      yield new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice()
    }
  } finally {
    await handle.close()
  }
}

/**
 * Writes a trainable copy of a student: every tensor F32, and an untied output.weight (a copy of the token
 * embedding) when the model had none. The header keeps everything else (tokenizer, chat template, name).
 */
export async function writeTrainableStudent(check: StudentCheck, sourcePath: string, destination: string) {
  const tensors: GgufTensorToWrite[] = check.file.tensors.map((tensor) => ({
    name: tensor.name,
    dims: tensor.dims,
    type: GgmlType.F32,
    data: () => tensorAsF32(sourcePath, tensor),
  }))
  if (check.tied) {
    const embedding = check.file.tensors.find((tensor) => tensor.name === 'token_embd.weight')
    if (!embedding) throw new StudentError('The student has neither output.weight nor token_embd.weight.')
    tensors.push({
      name: 'output.weight',
      dims: embedding.dims,
      type: GgmlType.F32,
      data: () => tensorAsF32(sourcePath, embedding),
    })
  }
  const metadata: Array<[string, GgufValue]> = [...check.file.metadata].filter(
    ([key]) => key !== 'general.alignment' && key !== 'general.quantization_version',
  )
  const fileType = metadata.findIndex(([key]) => key === 'general.file_type')
  if (fileType >= 0) metadata[fileType] = ['general.file_type', gguf.uint32(LlamaFileType.ALL_F32)]
  else metadata.push(['general.file_type', gguf.uint32(LlamaFileType.ALL_F32)])
  return writeGgufFile(destination, { metadata, tensors })
}

/** How to size a student trained from scratch (`larder gguf tiny --dims ... --untied-output`). */
export interface ScratchStudentSpec {
  embeddingLength: number
  blockCount: number
  headCount: number
  feedForwardLength: number
  contextLength: number
  /** Take the tokenizer (and chat template) of this GGUF file instead of the byte-level vocabulary. */
  vocabularyFrom?: string | undefined
  chatTemplate?: string | undefined
  name?: string | undefined
  seed?: number | undefined
}

export const DEFAULT_SCRATCH_STUDENT: ScratchStudentSpec = {
  embeddingLength: 64,
  blockCount: 2,
  headCount: 4,
  feedForwardLength: 128,
  contextLength: 256,
}

/** Writes a randomly initialised, untied, all-F32 llama student. */
export async function writeScratchStudent(destination: string, spec: ScratchStudentSpec) {
  if (spec.embeddingLength % spec.headCount !== 0) {
    throw new StudentError(
      `The embedding size (${spec.embeddingLength}) must be a multiple of the head count (${spec.headCount}).`,
    )
  }
  if ((spec.embeddingLength / spec.headCount) % 2 !== 0) {
    throw new StudentError('Each attention head needs an even size (embedding size / heads), for rotary positions.')
  }
  const tokenizer = spec.vocabularyFrom
    ? tokenizerMetadataOf((await readGgufFile(spec.vocabularyFrom)).metadata)
    : undefined
  return writeTinyLlamaGguf(destination, {
    seed: spec.seed ?? 42,
    embeddingLength: spec.embeddingLength,
    blockCount: spec.blockCount,
    headCount: spec.headCount,
    feedForwardLength: spec.feedForwardLength,
    contextLength: spec.contextLength,
    tiedEmbeddings: false,
    ...(spec.chatTemplate !== undefined ? { chatTemplate: spec.chatTemplate } : {}),
    ...(spec.name !== undefined ? { name: spec.name } : {}),
    ...(tokenizer ? { tokenizer } : {}),
  })
}
