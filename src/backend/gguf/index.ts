/**
 * GGUF toolkit: parse, validate, write and quantize GGUF model files without loading them whole,
 * plus tiny deterministic llama models for tests.
 */
export { GgufError, isGgufError, type GgufErrorCode } from './errors.js'
export {
  GgmlType,
  GgufValueTypeId,
  LlamaFileType,
  gguf,
  ggmlTypeName,
  ggmlTypeTraits,
  llamaFileTypeName,
  tensorByteSize,
  type GgmlTypeId,
  type GgmlTypeName,
  type GgmlTypeTraits,
  type GgufArray,
  type GgufFile,
  type GgufMetadata,
  type GgufTensorInfo,
  type GgufValue,
  type GgufValueTypeName,
} from './types.js'
export {
  readGguf,
  readGgufFile,
  readTensorBytes,
  readTensorRows,
  tensorRowCount,
  defaultReadLimits,
  type GgufReadLimits,
  type GgufReadOptions,
  type TensorRowChunk,
} from './reader.js'
export {
  metadataArray,
  metadataBoolean,
  metadataNumber,
  metadataString,
  metadataStringArray,
  describeValue,
} from './metadata.js'
export { summarizeGguf, type GgufSummary } from './summary.js'
export {
  validateGguf,
  checkModelFile,
  hasErrors,
  type GgufProblem,
  type GgufProblemSeverity,
  type ModelFileCheck,
} from './validate.js'
export {
  writeGgufFile,
  encodeGgufHeader,
  type GgufTensorToWrite,
  type GgufWriteInput,
  type GgufWriteOptions,
  type GgufWriteProgress,
  type GgufWriteResult,
  type TensorDataSource,
} from './writer.js'
export { fp32ToFp16Bits, fp16BitsToFp32, fp32ArrayToFp16, fp16ArrayToFp32, bf16ArrayToFp32 } from './fp16.js'
export {
  quantizeRow,
  dequantizeRow,
  quantizeRowQ8_0,
  quantizeRowQ4_0,
  quantizeRowQ4_1,
  quantizeRowQ5_0,
  quantizeRowQ5_1,
  type LegacyQuantTypeName,
} from './quant-blocks.js'
export {
  quantizeGgufFile,
  matchImportanceMatrix,
  imatrixLabelFor,
  GGML_QUANTIZATION_VERSION,
  type ImatrixUsage,
  type QuantizeFileOptions,
  type QuantizeFileResult,
  type QuantizeProgress,
} from './quantize.js'
export {
  planQuantization,
  summarizePlan,
  modelShapeOf,
  llamaTensorOrder,
  fileTypeInfo,
  isQuantizationFileType,
  QUANTIZATION_FILE_TYPES,
  type QuantizationFileType,
  type QuantizationPlanOptions,
  type TensorQuantizationPlan,
  type PlanSummary,
} from './quant-plan.js'
export {
  quantizeRows,
  rowBytes,
  blockSizeOf,
  isWritableTensorType,
  WRITABLE_TENSOR_TYPES,
  type WritableTensorType,
} from './quantize-rows.js'
export { quantizeKRows, QK_K, type KQuantTypeName } from './k-quants.js'
export {
  dequantizeTensor,
  dequantizers,
  dequantizerFor,
  canDequantize,
  supportedDequantizationTypes,
  UnsupportedTensorTypeError,
  type Dequantizer,
} from './dequantize.js'
export {
  readImportanceMatrix,
  parseLegacyImatrix,
  writeGgufImatrix,
  encodeLegacyImatrix,
  type ImportanceMatrix,
  type ImatrixContents,
  type ImatrixStatistics,
} from './imatrix.js'
export {
  writeTinyLlamaGguf,
  tinyByteVocabulary,
  createSeededRandom,
  CHATML_TEMPLATE,
  tokenizerMetadataOf,
  type TokenizerMetadata,
  type TinyLlamaOptions,
  type TinyLlamaInfo,
} from './tiny-model.js'
export {
  isAdapterFile,
  validateLoraAdapter,
  writeTinyLoraGguf,
  type LoraAdapterInfo,
  type TinyLoraOptions,
} from './lora.js'
