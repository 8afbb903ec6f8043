/**
 * `POST /v1/embeddings` through a registered model or provider. `encoding_format: "base64"` (what the openai SDKs
 * send by default, decoding the answer as little-endian float32) is honoured; "float" gives JSON numbers.
 */
import type { ServerResponse } from 'node:http'
import { z } from 'zod'
import type { Backend } from '../backend'
import { invalidParam, sendJson } from './http'
import { validate } from './requests'
import { modelNotFound } from './targets'

const embeddingBody = z
  .object({
    model: z.string().min(1).max(200),
    input: z.union([z.string(), z.array(z.string()).min(1).max(2048)]),
    encoding_format: z.enum(['float', 'base64']).nullish(),
    dimensions: z.int().min(1).nullish(),
    user: z.string().nullish(),
  })
  .loose()

/** A vector as OpenAI's base64 encoding: the float32 values, little-endian, base64. */
export function base64Vector(vector: number[]): string {
  const bytes = Buffer.alloc(vector.length * 4)
  for (let i = 0; i < vector.length; i++) bytes.writeFloatLE(vector[i]!, i * 4)
  return bytes.toString('base64')
}

export async function embeddings(backend: Backend, response: ServerResponse, rawBody: unknown): Promise<void> {
  const body = validate(embeddingBody, rawBody)
  const db = backend.workspace.db
  const local = db.prepare('SELECT id FROM models WHERE name = ?').get(body.model) as { id: number } | undefined
  const remote = db.prepare('SELECT id FROM providers WHERE name = ?').get(body.model) as { id: number } | undefined
  if (!local && !remote) throw modelNotFound(`The model "${body.model}" does not exist.`)
  if (local && !backend.models.get(local.id).loaded) await backend.models.load({ id: local.id })
  const { provider } = backend.models.providerFor(local ? { model: local.id } : { provider: remote!.id })
  const inputs = typeof body.input === 'string' ? [body.input] : body.input
  const vectors = await provider.embed(inputs)
  const size = vectors[0]?.length ?? 0
  if (body.dimensions && body.dimensions !== size)
    throw invalidParam(
      'dimensions',
      `${body.model} makes ${size}-dimensional vectors; leave out dimensions or ask for ${size}.`,
    )
  // Token counts where the model has a tokenizer (local models; providers that offer /tokenize).
  const counts = await Promise.all(inputs.map((text) => provider.countTokens(text).catch(() => 0)))
  const promptTokens = counts.reduce((sum, count) => sum + count, 0)
  const base64 = body.encoding_format === 'base64'
  sendJson(response, {
    object: 'list',
    model: body.model,
    data: vectors.map((vector, index) => ({
      object: 'embedding',
      index,
      embedding: base64 ? base64Vector(vector) : vector,
    })),
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  })
}
