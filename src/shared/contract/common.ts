/** Building blocks shared by every area of the contract. Imports nothing but zod. */
import { z } from 'zod'

export const id = z.int().positive()
export const timestamp = z.string().describe('ISO 8601 time')

export const absolutePath = z
  .string()
  .min(1)
  .max(4096)
  .refine((value) => value.startsWith('/') || /^[A-Za-z]:[\\/]/.test(value) || value.startsWith('\\\\'), {
    message: 'must be an absolute path',
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
