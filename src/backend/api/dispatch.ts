/**
 * The backend boundary: every call, whatever the transport, is checked against the contract's input schema before a
 * handler sees it, and every failure leaves as a structured ApiError (code, message, field path).
 */
import type { z } from 'zod'
import { isMethodName, methodSpecs, type MethodName, type MethodOutput, type ParsedInput } from '../../shared/contract'
import { ApiError } from '../../shared/errors'
import { message } from '../../shared/messages'
import { WorkspaceError } from '../db/errors'

export type Handlers = {
  [M in MethodName]: (input: ParsedInput<M>) => MethodOutput<M> | Promise<MethodOutput<M>>
}

/** The handlers of one area of the contract (e.g. `modelMethods`); the backend joins every area's into `Handlers`. */
export type AreaHandlers<Specs extends Record<string, { input: z.ZodType; output: z.ZodType }>> = {
  [M in keyof Specs]: (
    input: z.output<Specs[M]['input']>,
  ) => z.output<Specs[M]['output']> | Promise<z.output<Specs[M]['output']>>
}

function zodToApiError(error: z.ZodError): ApiError {
  const issues = error.issues.map((issue) => ({
    path: issue.path.map((part) => (typeof part === 'symbol' ? String(part) : part)),
    message: issue.message,
  }))
  const first = issues[0]!
  const said =
    first.path.length > 0
      ? message('error.invalidInputAt', { field: first.path.join('.'), detail: first.message })
      : message('error.invalidInput', { detail: first.message })
  return ApiError.of('invalid_input', said, { path: first.path, ...(issues.length > 1 ? { issues } : {}) })
}

export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error
  if (error instanceof WorkspaceError) {
    return new ApiError({ code: error.code === 'database_locked' ? 'conflict' : 'unavailable', message: error.message })
  }
  return ApiError.from(error)
}

export class Dispatcher {
  constructor(
    private readonly handlers: Handlers,
    private readonly options: { validateOutput?: boolean } = {},
  ) {}

  async call(method: unknown, rawInput: unknown): Promise<unknown> {
    if (!isMethodName(method)) {
      throw new ApiError({
        code: 'unknown_method',
        message: `Unknown method "${String(method)}". Methods are named area.action, e.g. jobs.list.`,
      })
    }
    const spec = methodSpecs[method]
    const parsed = spec.input.safeParse(rawInput ?? {})
    if (!parsed.success) throw zodToApiError(parsed.error)
    let output: unknown
    try {
      const handler = this.handlers[method] as (input: unknown) => unknown
      output = await handler(parsed.data)
    } catch (error) {
      throw toApiError(error)
    }
    if (this.options.validateOutput) {
      const checked = spec.output.safeParse(output)
      if (!checked.success) {
        throw new ApiError({
          code: 'internal',
          message: `Backend returned a result for ${method} that breaks the contract: ${checked.error.issues[0]?.message ?? ''}`,
        })
      }
      return checked.data
    }
    return output
  }
}
