import type { Message } from './messages'

/**
 * Structured errors that cross every transport unchanged. A caller can branch on `code`; `path` points at the
 * offending input field when the error came from validation.
 */
export const ERROR_CODES = [
  'invalid_input',
  'unknown_method',
  'unauthorized',
  'forbidden',
  'payload_too_large',
  'not_found',
  'conflict',
  'unavailable',
  'internal',
] as const

export type ErrorCode = (typeof ERROR_CODES)[number]

export interface ApiErrorShape {
  code: ErrorCode
  message: string
  /** Field path into the input, e.g. ["limit"] or ["items", 2, "name"]. */
  path?: (string | number)[]
  /** Every validation issue when there was more than one. */
  issues?: { path: (string | number)[]; message: string }[]
  /** The message as a key of src/shared/messages.ts plus parameters, for the console to translate. */
  messageKey?: string
  params?: Record<string, string | number>
}

export class ApiError extends Error implements ApiErrorShape {
  readonly code: ErrorCode
  readonly path?: (string | number)[]
  readonly issues?: { path: (string | number)[]; message: string }[]
  readonly messageKey?: string
  readonly params?: Record<string, string | number>

  constructor(shape: ApiErrorShape) {
    super(shape.message)
    this.name = 'ApiError'
    this.code = shape.code
    if (shape.path) this.path = shape.path
    if (shape.issues) this.issues = shape.issues
    if (shape.messageKey) {
      this.messageKey = shape.messageKey
      this.params = shape.params ?? {}
    }
  }

  /** An error whose message is a translatable message: its English text plus the key and parameters. */
  static of(code: ErrorCode, message: Message, extra: Pick<ApiErrorShape, 'path' | 'issues'> = {}): ApiError {
    return new ApiError({ code, message: message.text, messageKey: message.key, params: message.params, ...extra })
  }

  toJSON(): ApiErrorShape {
    const out: ApiErrorShape = { code: this.code, message: this.message }
    if (this.path) out.path = this.path
    if (this.issues) out.issues = this.issues
    if (this.messageKey) {
      out.messageKey = this.messageKey
      out.params = this.params ?? {}
    }
    return out
  }

  static from(value: unknown): ApiError {
    if (value instanceof ApiError) return value
    if (isApiErrorShape(value)) return new ApiError(value)
    const message = value instanceof Error ? value.message : String(value)
    return new ApiError({ code: 'internal', message })
  }
}

export function isApiErrorShape(value: unknown): value is ApiErrorShape {
  if (typeof value !== 'object' || value === null) return false
  const candidate = value as Record<string, unknown>
  return (
    typeof candidate.message === 'string' &&
    typeof candidate.code === 'string' &&
    (ERROR_CODES as readonly string[]).includes(candidate.code)
  )
}

/** HTTP status for each error code, used by the HTTP transport. */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  invalid_input: 400,
  unknown_method: 404,
  unauthorized: 401,
  forbidden: 403,
  payload_too_large: 413,
  not_found: 404,
  conflict: 409,
  unavailable: 503,
  internal: 500,
}
