/**
 * Property-based fuzzing of every contract method (fast-check): inputs shaped like each method's input object (its
 * real keys, with values of every type, edge numbers, hostile strings and paths), called through the dispatcher of a
 * real backend over a populated workspace. Every call must succeed or fail with a structured, non-internal ApiError:
 * never a 500, never a dead process. The job runner is not started, so accepted jobs only queue. Small N in CI
 * (contract-fuzz.test.ts), large N by hand:
 *
 *   npm run campaign -- fuzz --n 500
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { z } from 'zod'
import { methodSpecs, type MethodName } from '../../src/shared/contract'
import { ApiError, isApiErrorShape } from '../../src/shared/errors'
import { Backend } from '../../src/backend/backend'
import { writeTinyLlamaGguf } from '../../src/backend/gguf/index'

export interface FuzzResult {
  methods: number
  calls: number
  succeeded: number
  /** Structured refusals by ApiError code. */
  refused: Record<string, number>
  /** Calls that ended in 'internal' (a 500) or threw something that is not an ApiError: must be 0. */
  internal: number
  failures: { method: string; input: string; error: string }[]
  seconds: number
}

function shapeOf(schema: z.ZodType): Record<string, z.ZodType> {
  const candidate = schema as unknown as { shape?: Record<string, z.ZodType>; def?: { in?: z.ZodType } }
  if (candidate.shape) return candidate.shape
  if (candidate.def?.in) return shapeOf(candidate.def.in)
  return {}
}

function valueArbitrary(paths: string[]): fc.Arbitrary<unknown> {
  const scalar = fc.oneof(
    fc.constantFrom(null, true, false, 0, 1, 2, 3, -1, 1.5, 1e12, Number.MAX_SAFE_INTEGER, 2 ** 31, NaN),
    fc.integer(),
    fc.double(),
    fc.string({ maxLength: 40 }),
    fc.string({ unit: 'binary', maxLength: 20 }),
    fc.constantFrom(
      '',
      'default',
      '../../etc',
      'a/b',
      '%E0%A4%A',
      '\u0000',
      '(',
      '(a+)+b',
      '{{#x}}',
      'x'.repeat(5000),
      '2024-01-01T00:00:00.000Z',
      'pipeline:x',
      'C:\\x',
      '\\\\server\\x',
      ...paths,
    ),
  )
  return fc.oneof(
    { weight: 6, arbitrary: scalar },
    { weight: 1, arbitrary: fc.array(scalar, { maxLength: 4 }) },
    { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 10 }), scalar, { maxKeys: 4 }) },
    { weight: 1, arbitrary: fc.anything({ maxDepth: 2 }) },
  )
}

interface JsonSchema {
  type?: string | string[]
  enum?: unknown[]
  const?: unknown
  properties?: Record<string, JsonSchema>
  required?: string[]
  items?: JsonSchema
  anyOf?: JsonSchema[]
  oneOf?: JsonSchema[]
  minimum?: number
  maximum?: number
  minItems?: number
}

/**
 * Values that fit the schema's JSON shape (types, enums, object keys; not every refinement), so many calls get past
 * validation and reach the handlers, where the 500s hide. Small ids (1-3) hit the rows `populate` made.
 */
function fromJsonSchema(schema: JsonSchema, paths: string[], depth = 0): fc.Arbitrary<unknown> {
  const loose = valueArbitrary(paths)
  if (depth > 4) return loose
  if (schema.const !== undefined) return fc.constant(schema.const)
  if (schema.enum) return fc.constantFrom(...schema.enum)
  const options = schema.anyOf ?? schema.oneOf
  if (options && options.length > 0)
    return fc.oneof(...options.map((option) => fromJsonSchema(option, paths, depth + 1)))
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type
  switch (type) {
    case 'integer': {
      const min = Math.max(schema.minimum ?? -1e6, -1e9)
      const max = Math.min(schema.maximum ?? 1e6, 1e9)
      const low = Math.max(min, -2)
      return fc.oneof(
        fc.integer({ min: low, max: Math.max(low, Math.min(max, 4)) }),
        fc.integer({ min, max: Math.max(min, max) }),
      )
    }
    case 'number': {
      const min = Math.max(schema.minimum ?? -1e6, -1e9)
      return fc.double({ min, max: Math.max(min, Math.min(schema.maximum ?? 1e6, 1e9)), noNaN: true })
    }
    case 'boolean':
      return fc.boolean()
    case 'string':
      return fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('tiny', 'default', 'acme', ...paths))
    case 'array':
      return fc.array(schema.items ? fromJsonSchema(schema.items, paths, depth + 1) : loose, {
        minLength: Math.min(schema.minItems ?? 0, 3),
        maxLength: 3,
      })
    case 'object': {
      const properties = schema.properties ?? {}
      return fc.record(
        Object.fromEntries(
          Object.entries(properties).map(([key, inner]) => [key, fromJsonSchema(inner, paths, depth + 1)]),
        ),
        { requiredKeys: (schema.required ?? []).filter((key) => key in properties) },
      )
    }
    default:
      return loose
  }
}

function jsonSchemaOf(schema: z.ZodType): JsonSchema | undefined {
  try {
    return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema
  } catch {
    return undefined
  }
}

/**
 * Inputs for one method: shaped by its schema (mostly valid), the method's keys with values of any type, a stray key,
 * or anything at all.
 */
function inputArbitrary(method: MethodName, paths: string[]): fc.Arbitrary<unknown> {
  const schema = methodSpecs[method].input as z.ZodType
  const keys = Object.keys(shapeOf(schema))
  const value = valueArbitrary(paths)
  const record = fc.record(Object.fromEntries(keys.map((key) => [key, value])), { requiredKeys: [] })
  const json = jsonSchemaOf(schema)
  return fc.oneof(
    { weight: json ? 8 : 0, arbitrary: json ? fromJsonSchema(json, paths) : record },
    { weight: 4, arbitrary: record },
    {
      weight: 1,
      arbitrary: fc.tuple(record, fc.string({ maxLength: 8 }), value).map(([r, k, v]) => ({ ...r, [k]: v })),
    },
    { weight: 1, arbitrary: fc.anything({ maxDepth: 2 }) },
  )
}

async function populate(backend: Backend, root: string): Promise<string[]> {
  const call = (method: string, input: unknown) => backend.call(method, input)
  const model = join(root, 'tiny.gguf')
  await writeTinyLlamaGguf(model, { seed: 1 })
  await call('models.register', { path: model, name: 'tiny' })
  const { namespace } = (await call('cache.namespaces.save', { name: 'default' })) as { namespace: { id: number } }
  await call('cache.entries.create', {
    namespaceId: namespace.id,
    request: { model: 'tiny', messages: [{ role: 'user', content: 'hi' }] },
    answer: 'hello',
    state: 'approved',
  })
  await call('gateway.keys.create', { tenant: 'acme' })
  const starters = (await call('pipelines.starters', {})) as { items: { definition: unknown }[] }
  await call('pipelines.save', { definition: starters.items[0]!.definition })
  const garbage = join(root, 'garbage.bin')
  writeFileSync(garbage, 'not a model, not a log, not a backup')
  const folder = join(root, 'folder')
  mkdirSync(folder)
  const log = join(root, 'log.jsonl')
  writeFileSync(log, '{"model":"m","prompt":"p"}\n{broken\n')
  return [model, garbage, folder, log, join(root, 'missing', 'x'), join(root, 'new-out'), root]
}

export async function fuzzContract(options: {
  runsPerMethod: number
  seed?: number
  only?: MethodName[]
  log?: (line: string) => void
}): Promise<FuzzResult> {
  const started = performance.now()
  const root = mkdtempSync(join(tmpdir(), 'larder-fuzz-'))
  // Runner not started: accepted jobs stay queued. cpuOnly: a fuzzed load never probes for a GPU.
  const backend = Backend.open({ home: join(root, 'home'), validateOutput: true, models: { cpuOnly: true } })
  const result: FuzzResult = {
    methods: 0,
    calls: 0,
    succeeded: 0,
    refused: {},
    internal: 0,
    failures: [],
    seconds: 0,
  }
  try {
    const paths = await populate(backend, root)
    const methods = options.only ?? (Object.keys(methodSpecs) as MethodName[])
    for (const method of methods) {
      result.methods++
      await fc.assert(
        fc.asyncProperty(inputArbitrary(method, paths), async (input) => {
          result.calls++
          try {
            await backend.call(method, input)
            result.succeeded++
            return true
          } catch (error) {
            const structured = error instanceof ApiError || isApiErrorShape(error)
            const code = structured ? (error as ApiError).code : 'thrown'
            result.refused[code] = (result.refused[code] ?? 0) + 1
            if (code === 'internal' || code === 'thrown') {
              result.internal++
              if (result.failures.length < 20)
                result.failures.push({
                  method,
                  input: JSON.stringify(input)?.slice(0, 300) ?? String(input),
                  error: (error as Error).message?.slice(0, 300) ?? String(error),
                })
            }
            return true // Recorded, not thrown: one run finds every method's failures.
          }
        }),
        { numRuns: options.runsPerMethod, ...(options.seed !== undefined ? { seed: options.seed } : {}) },
      )
      // A stopped generation or a queued job must not leave the backend unable to answer.
      await backend.call('system.info', {})
    }
    options.log?.(`${result.calls} calls over ${result.methods} methods`)
  } finally {
    await backend.close()
    rmSync(root, { recursive: true, force: true })
  }
  result.seconds = Math.round((performance.now() - started) / 100) / 10
  return result
}
