/**
 * Messages between the backend and the model worker process. The worker runs node-llama-cpp, so a native abort
 * in llama.cpp (GGML_ASSERT on a bad file, out of memory) takes down only the worker, never the backend.
 */
import type {
  ChatMessage,
  FinishReason,
  ResponseFormat,
  SamplingOptions,
  ToolCall,
  ToolChoice,
  ToolDefinition,
} from '../providers/types'
import type { CompareRequest } from './compare'
import type { TeacherLogprobsRequest } from './teacher-logprobs'
import type { TokenEvalRequest } from '../../distill/eval/token-metrics'

export interface LoadOptions {
  /** 'auto' fits as many layers on the GPU as memory allows; a number forces it; 0 keeps everything on the CPU. */
  gpuLayers: 'auto' | number
  contextSize: number
  /** Parallel sequences: how many requests this model evaluates together in one batch. */
  sequences: number
  threads: number
  /** false forces CPU even where a GPU exists (also what tests use). */
  gpu: 'auto' | false
  embedding?: boolean
  /** A LoRA adapter (GGUF) applied to the context, at this scale: the model is its base. */
  lora?: { path: string; scale: number }
}

export interface WorkerGenerateRequest extends SamplingOptions {
  prompt?: string
  messages?: ChatMessage[]
  jsonSchema?: Record<string, unknown>
  grammar?: string
  responseFormat?: ResponseFormat
  tools?: ToolDefinition[]
  toolChoice?: ToolChoice
  stream: boolean
}

export type WorkerRequest =
  | { id: number; type: 'load'; handle: string; path: string; options: LoadOptions }
  | { id: number; type: 'unload'; handle: string }
  | { id: number; type: 'generate'; handle: string; request: WorkerGenerateRequest }
  | { id: number; type: 'embed'; handle: string; texts: string[] }
  | { id: number; type: 'tokenize'; handle: string; text: string }
  | { id: number; type: 'system' }
  | { id: number; type: 'compare'; request: CompareRequest }
  | { id: number; type: 'logprobs'; handle: string; request: TeacherLogprobsRequest }
  | { id: number; type: 'distillTokens'; request: TokenEvalRequest }
  | { id: number; type: 'usage' }
  | { id: number; type: 'cancel'; target: number }

/** The worker process's own resource use (`process.resourceUsage()`), for measuring one model alone. */
export interface WorkerUsage {
  /** Peak resident set size of the worker process so far, in bytes. */
  maxRssBytes: number
}

export interface WorkerGenerateResult {
  text: string
  toolCalls?: ToolCall[]
  tokensIn: number
  tokensOut: number
  finishReason: FinishReason
  durationMs: number
}

export interface GpuDevice {
  name: string
}

export interface WorkerSystemInfo {
  gpu: string | false
  devices: string[]
  vram: { total: number; used: number; free: number } | null
  cpuThreads: number
}

export interface LoadedInfo {
  handle: string
  gpuLayers: number
  contextSize: number
  sequences: number
  threads: number
  trainContextSize: number
  sizeBytes: number
}

export type WorkerReply =
  | { id: number; type: 'result'; ok: true; result: unknown }
  /** `status` 400: the request cannot work (a schema llama.cpp cannot enforce, a prompt over the context). */
  | { id: number; type: 'result'; ok: false; error: string; retryable: boolean; status?: number }
  | { id: number; type: 'text'; text: string }
  | { id: number; type: 'progress'; done: number; total: number }
  | { type: 'ready'; pid: number }
