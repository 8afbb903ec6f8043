/**
 * `GET /v1/models`: the pipelines, registered models and providers this gateway can answer with. Models and providers
 * are shared; pipelines are listed only to the tenant that owns them.
 */
import type { ServerResponse } from 'node:http'
import type { Db } from '../db/database'
import { PIPELINE_MODEL_PREFIX } from '../pipelines/provider'
import { sendJson } from './http'
import { modelNotFound } from './targets'

export interface ModelObject {
  id: string
  object: 'model'
  created: number
  owned_by: string
}

export function listModels(db: Db, tenant: string): ModelObject[] {
  const models = db.prepare('SELECT name, added_at FROM models ORDER BY name').all() as {
    name: string
    added_at: string
  }[]
  const providers = db.prepare('SELECT name, created_at FROM providers ORDER BY name').all() as {
    name: string
    created_at: string
  }[]
  const pipelines = db.prepare('SELECT name, created_at FROM pipelines WHERE tenant = ? ORDER BY name').all(tenant) as {
    name: string
    created_at: string
  }[]
  return [
    ...pipelines.map((p) => ({
      id: `${PIPELINE_MODEL_PREFIX}${p.name}`,
      object: 'model' as const,
      created: Math.floor(Date.parse(p.created_at) / 1000),
      owned_by: 'pipeline',
    })),
    ...models.map((m) => ({
      id: m.name,
      object: 'model' as const,
      created: Math.floor(Date.parse(m.added_at) / 1000),
      owned_by: 'larder',
    })),
    ...providers.map((p) => ({
      id: p.name,
      object: 'model' as const,
      created: Math.floor(Date.parse(p.created_at) / 1000),
      owned_by: 'provider',
    })),
  ]
}

export function sendModelList(response: ServerResponse, db: Db, tenant: string): void {
  sendJson(response, { object: 'list', data: listModels(db, tenant) })
}

/** `GET /v1/models/{id}`: one model of the list, or a 404 that OpenAI clients understand. */
export function sendModel(response: ServerResponse, db: Db, tenant: string, id: string): void {
  const model = listModels(db, tenant).find((candidate) => candidate.id === id)
  if (!model)
    throw modelNotFound(`The model "${id}" does not exist. GET /v1/models lists the models this gateway serves.`)
  sendJson(response, model)
}
