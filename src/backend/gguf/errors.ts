/**
 * Every failure raised by the GGUF module is a GgufError with a stable `code`, so callers (API
 * handlers, job runners, the UI) can branch on the kind of failure without parsing messages.
 */
export type GgufErrorCode =
  | 'BAD_MAGIC'
  | 'UNSUPPORTED_VERSION'
  | 'TRUNCATED'
  | 'COUNT_TOO_LARGE'
  | 'STRING_TOO_LONG'
  | 'UNKNOWN_VALUE_TYPE'
  | 'UNKNOWN_TENSOR_TYPE'
  | 'INVALID_TENSOR_INFO'
  | 'INVALID_ALIGNMENT'
  | 'DUPLICATE_KEY'
  | 'DUPLICATE_TENSOR'
  | 'TENSOR_OUT_OF_BOUNDS'
  | 'INVALID_METADATA'
  | 'INVALID_ARGUMENT'
  | 'TENSOR_DATA_SIZE_MISMATCH'
  | 'NON_FINITE_VALUE'
  | 'SCALE_OVERFLOW'
  | 'VALUE_OUT_OF_RANGE'
  | 'UNSUPPORTED_CONVERSION'
  | 'REQUANTIZE_REFUSED'
  | 'INVALID_IMATRIX'
  | 'IMATRIX_MISMATCH'
  | 'IMATRIX_REQUIRED'
  | 'LOSSY_METADATA'
  | 'ABORTED'

export class GgufError extends Error {
  readonly code: GgufErrorCode

  constructor(code: GgufErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'GgufError'
    this.code = code
  }
}

export function isGgufError(value: unknown): value is GgufError {
  return value instanceof GgufError
}

/** Throws the module's own abort error so callers only have to check one error class. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) {
    throw new GgufError('ABORTED', `${what} was aborted`, { cause: signal.reason })
  }
}
