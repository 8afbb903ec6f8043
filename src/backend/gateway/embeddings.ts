/** `POST /v1/embeddings` through a registered model or provider. */
import type { ServerResponse } from 'node:http'
import { z } from 'zod'
import { ApiError } from '../../shared/errors'
import type { Backend } from '../backend'

const embeddingBody = z
  .object({ model: z.string().min(1), input: z.union([z.string(), z.array(z.string()).min(1).max(2048)]) })
  .loose()

export async function embeddings(backend: Backend, response: ServerResponse, rawBody: unknown): Promise<void> {
  const parsed = embeddingBody.safeParse(rawBody)
  if (!parsed.success)
    throw new ApiError({ code: 'invalid_input', message: `Invalid request: ${parsed.error.issues[0]!.message}` })
  const db = backend.workspace.db
  const local = db.prepare('SELECT id FROM models WHERE name = ?').get(parsed.data.model) as { id: number } | undefined
  const remote = db.prepare('SELECT id FROM providers WHERE name = ?').get(parsed.data.model) as
    { id: number } | undefined
  if (!local && !remote)
    throw new ApiError({ code: 'not_found', message: `The model "${parsed.data.model}" does not exist.` })
  if (local && !backend.models.get(local.id).loaded) await backend.models.load({ id: local.id })
  const { provider } = backend.models.providerFor(local ? { model: local.id } : { provider: remote!.id })
  const inputs = typeof parsed.data.input === 'string' ? [parsed.data.input] : parsed.data.input
  const vectors = await provider.embed(inputs)
  response.writeHead(200, { 'content-type': 'application/json' })
  response.end(
    JSON.stringify({
      object: 'list',
      model: parsed.data.model,
      data: vectors.map((embedding, index) => ({ object: 'embedding', index, embedding })),
      usage: { prompt_tokens: 0, total_tokens: 0 },
    }),
  )
}
