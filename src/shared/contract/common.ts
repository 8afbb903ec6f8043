/** Building blocks shared by every area of the contract. Imports nothing but zod. */
import { z } from 'zod'

export const id = z.int().positive()
export const timestamp = z.string().describe('ISO 8601 time')

/**
 * Which paths count as absolute: those of the platform the backend runs on. A Windows path (`C:\x`, `\\server\x`) is
 * a relative file name on Linux and macOS (it would land in the server's working directory), and `/x` has no drive on
 * Windows. The backend sets its platform's style when it starts; elsewhere (the console) either form passes and the
 * backend decides.
 */
export type PathStyle = 'posix' | 'win32' | 'any'
let pathStyle: PathStyle = 'any'

export function setPathStyle(style: PathStyle): void {
  pathStyle = style
}

export function isAbsolutePathFor(style: PathStyle, value: string): boolean {
  const posix = value.startsWith('/')
  const windows = /^[A-Za-z]:[\\/]/.test(value) || /^[\\/]{2}[^\\/]+[\\/][^\\/]+/.test(value)
  return style === 'posix' ? posix : style === 'win32' ? windows : posix || windows
}

export const absolutePath = z
  .string()
  .min(1)
  .max(4096)
  .refine((value) => !value.includes('\0'), { message: 'must not contain a NUL character' })
  .refine((value) => isAbsolutePathFor(pathStyle, value), {
    message: 'must be an absolute path on the machine running Larder (e.g. /srv/larder or C:\\larder)',
  })

/** Names operators type and URLs carry: letters, digits and . _ : - */
export const resourceName = z
  .string()
  .min(1)
  .max(120)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'use letters, digits and . _ : - (no spaces)')

export const emptyInput = z.object({}).strict()

/** One method of the contract: its input and output schemas. */
export interface MethodSpec {
  input: z.ZodType
  output: z.ZodType
}
