/**
 * The demo workspace: a small model trained on the corpus that ships with Larder, registered with a Q8_0 copy, a
 * request log, cache entries, a template family, a pipeline and a finished training run, so every page of a new
 * console has real data to explore.
 */
import { z } from 'zod'
import { jobSchema } from './core'

export const demoMethods = {
  'demo.status': {
    input: z.object({}).strict(),
    output: z.object({
      /** Nothing in the workspace yet: the console offers the demo. */
      empty: z.boolean(),
      loaded: z.boolean(),
      job: jobSchema.nullable(),
    }),
  },
  'demo.load': {
    input: z.object({ quick: z.boolean().default(false) }).strict(),
    output: z.object({ job: jobSchema }),
  },
} as const
