import { metadataArray, metadataNumber, metadataString } from './metadata.js'
import { llamaFileTypeName, type GgmlTypeName, type GgufFile } from './types.js'

export interface GgufSummary {
  readonly architecture: string | undefined
  readonly name: string | undefined
  /** Sum of tensor element counts. */
  readonly parameterCount: number
  readonly contextLength: number | undefined
  readonly embeddingLength: number | undefined
  readonly blockCount: number | undefined
  /** Tensors per storage type, e.g. { Q4_0: 14, F32: 5 }. */
  readonly tensorTypeCounts: Partial<Record<GgmlTypeName, number>>
  /** Parameters per storage type. */
  readonly parameterCountsByType: Partial<Record<GgmlTypeName, number>>
  /**
   * Overall quantization: the llama_ftype name from `general.file_type` when present
   * (e.g. "MOSTLY_Q4_0"), otherwise the type holding the most parameters (e.g. "Q4_0").
   */
  readonly fileType: string | undefined
  readonly fileTypeSource: 'general.file_type' | 'dominant tensor type' | 'none'
  readonly tokenizerModel: string | undefined
  readonly vocabularySize: number | undefined
  readonly hasChatTemplate: boolean
  readonly tensorDataBytes: number
  readonly fileSize: number
  readonly version: number
}

export function summarizeGguf(file: GgufFile): GgufSummary {
  const { metadata } = file
  const architecture = metadataString(metadata, 'general.architecture')
  const archKey = (suffix: string): number | undefined =>
    architecture ? metadataNumber(metadata, `${architecture}.${suffix}`) : undefined

  const tensorTypeCounts: Partial<Record<GgmlTypeName, number>> = {}
  const parameterCountsByType: Partial<Record<GgmlTypeName, number>> = {}
  let parameterCount = 0
  let tensorDataBytes = 0
  for (const tensor of file.tensors) {
    tensorTypeCounts[tensor.typeName] = (tensorTypeCounts[tensor.typeName] ?? 0) + 1
    parameterCountsByType[tensor.typeName] = (parameterCountsByType[tensor.typeName] ?? 0) + tensor.elementCount
    parameterCount += tensor.elementCount
    tensorDataBytes += tensor.byteSize
  }

  let fileType: string | undefined
  let fileTypeSource: GgufSummary['fileTypeSource'] = 'none'
  const declaredFileType = metadataNumber(metadata, 'general.file_type')
  if (declaredFileType !== undefined) {
    fileType = llamaFileTypeName(declaredFileType)
    fileTypeSource = 'general.file_type'
  } else {
    let dominant: GgmlTypeName | undefined
    for (const [typeName, count] of Object.entries(parameterCountsByType) as Array<[GgmlTypeName, number]>) {
      if (dominant === undefined || count > (parameterCountsByType[dominant] ?? 0)) dominant = typeName
    }
    if (dominant !== undefined) {
      fileType = dominant
      fileTypeSource = 'dominant tensor type'
    }
  }

  const tokens = metadataArray(metadata, 'tokenizer.ggml.tokens')
  const chatTemplate = metadataString(metadata, 'tokenizer.chat_template')

  return {
    architecture,
    name: metadataString(metadata, 'general.name'),
    parameterCount,
    contextLength: archKey('context_length'),
    embeddingLength: archKey('embedding_length'),
    blockCount: archKey('block_count'),
    tensorTypeCounts,
    parameterCountsByType,
    fileType,
    fileTypeSource,
    tokenizerModel: metadataString(metadata, 'tokenizer.ggml.model'),
    vocabularySize: tokens ? tokens.values.length : undefined,
    hasChatTemplate: chatTemplate !== undefined && chatTemplate.length > 0,
    tensorDataBytes,
    fileSize: file.fileSize,
    version: file.version,
  }
}
