/**
 * The one API contract between the console and the backend. Every method is named `area.action` and declares a zod
 * input and output schema; every event is typed the same way. Both transports (MessagePort in Electron, HTTP + SSE
 * in a browser) carry exactly these names, and the backend validates every call against these schemas.
 *
 * Each area keeps its schemas in its own module; this file joins them. Imports nothing from node, electron or the DOM.
 */
import type { z } from 'zod'
import type { ApiErrorShape } from '../errors'
import { coreEvents, coreMethods } from './core'
import { cacheEvents, cacheMethods } from './cache'
import { modelEvents, modelMethods } from './models'
import { pipelineEvents, pipelineMethods } from './pipelines'
import { planningMethods } from './planning'
import { exportMethods, templateEvents, templateMethods } from './templates'
import { distillEvents, distillMethods } from './distill'
import { distillEvalEvents, distillEvalMethods } from './distill-eval'
import { demoMethods } from './demo'
import { deployMethods } from './deploy'
import { distillDatasetMethods } from './distill-datasets'

export * from './common'
export * from './core'
export * from './models'
export * from './cache'
export * from './pipelines'
export * from './planning'
export * from './templates'
export * from './distill'
export * from './distill-eval'
export * from './demo'
export * from './deploy'
export * from './distill-datasets'

export const methodSpecs = {
  ...coreMethods,
  ...modelMethods,
  ...cacheMethods,
  ...planningMethods,
  ...pipelineMethods,
  ...templateMethods,
  ...exportMethods,
  ...deployMethods,
  ...distillMethods,
  ...distillEvalMethods,
  ...demoMethods,
  ...distillDatasetMethods,
} as const

export type MethodSpecs = typeof methodSpecs
export type MethodName = keyof MethodSpecs
/** What a caller passes (defaults may be omitted). */
export type MethodInput<M extends MethodName> = z.input<MethodSpecs[M]['input']>
/** What a handler receives once defaults are applied. */
export type ParsedInput<M extends MethodName> = z.output<MethodSpecs[M]['input']>
export type MethodOutput<M extends MethodName> = z.output<MethodSpecs[M]['output']>

export const METHOD_NAMES = Object.keys(methodSpecs) as MethodName[]

export function isMethodName(value: unknown): value is MethodName {
  return typeof value === 'string' && Object.hasOwn(methodSpecs, value)
}

export const eventSpecs = {
  ...coreEvents,
  ...modelEvents,
  ...cacheEvents,
  ...pipelineEvents,
  ...templateEvents,
  ...distillEvents,
  ...distillEvalEvents,
} as const

export type EventSpecs = typeof eventSpecs
export type EventName = keyof EventSpecs
export type EventPayload<E extends EventName> = z.output<EventSpecs[E]>
export const EVENT_NAMES = Object.keys(eventSpecs) as EventName[]

export function isEventName(value: unknown): value is EventName {
  return typeof value === 'string' && Object.hasOwn(eventSpecs, value)
}

/** Wire messages of the MessagePort transport. */
export type PortRequest = { type: 'call'; id: number; method: string; input: unknown }
export type PortMessage =
  | { type: 'result'; id: number; ok: true; result: unknown }
  | { type: 'result'; id: number; ok: false; error: ApiErrorShape }
  | { type: 'event'; name: EventName; payload: unknown }
