/**
 * LoRA adapters in llama.cpp's GGUF format (what convert_lora_to_gguf.py writes): `general.type` = "adapter",
 * `adapter.type` = "lora", `adapter.lora.alpha`, and for each adapted weight of the base model a pair of tensors
 * `<base tensor>.lora_a` [n_in, rank] and `<base tensor>.lora_b` [rank, n_out]. llama.cpp applies
 * W·x + scale·(alpha/rank)·B(A·x) at run time (src/llama-adapter.cpp).
 *
 * llama.cpp checks a pairing only when the adapter is loaded onto a context, and some mismatches (a key of the wrong
 * type) abort the process; so the pairing with a base is checked here first, in plain words.
 */
import { createSeededRandom } from './tiny-model.js'
import { checkContainer, type GgufProblem } from './validate.js'
import { GgmlType, gguf, type GgufFile, type GgufTensorInfo, type GgufValue } from './types.js'
import { writeGgufFile, type GgufTensorToWrite, type GgufWriteResult } from './writer.js'

/** True when the header says the file is an adapter rather than a model (`general.type` = "adapter"). */
export function isAdapterFile(file: GgufFile): boolean {
  const type = file.metadata.get('general.type')
  return type?.type === 'string' && type.value === 'adapter'
}

export interface LoraAdapterInfo {
  readonly architecture: string
  readonly alpha: number | null
  readonly rank: number
  /** Base tensors the adapter changes. */
  readonly adaptedTensors: number
  /** Elements in the adapter's lora_a and lora_b tensors. */
  readonly parameterCount: number
}

const problem = (code: string, message: string, key?: string, tensor?: string): GgufProblem => ({
  severity: 'error',
  code,
  message,
  ...(key !== undefined && { key }),
  ...(tensor !== undefined && { tensor }),
})

/** Keys llama.cpp reads with a fixed type: a wrong type is a GGML_ASSERT, not an error message. */
function checkAdapterKeys(adapter: GgufFile, base: GgufFile, problems: GgufProblem[]): void {
  const text = (key: string): GgufValue | undefined => adapter.metadata.get(key)
  const general = text('general.type')
  if (general?.type !== 'string' || general.value !== 'adapter') {
    problems.push(
      problem(
        'NOT_ADAPTER',
        `general.type is ${general?.type === 'string' ? `"${general.value}"` : 'missing'}, not "adapter": this is not an adapter file`,
        'general.type',
      ),
    )
    return
  }
  const kind = text('adapter.type')
  if (kind?.type !== 'string' || kind.value !== 'lora') {
    problems.push(
      problem(
        'NOT_LORA',
        `adapter.type is ${kind?.type === 'string' ? `"${kind.value}"` : 'missing'}; only "lora" adapters can be served`,
        'adapter.type',
      ),
    )
  }
  const alpha = text('adapter.lora.alpha')
  if (alpha !== undefined && alpha.type !== 'float32') {
    problems.push(
      problem('WRONG_TYPE', `adapter.lora.alpha must be a float32, found ${alpha.type}`, 'adapter.lora.alpha'),
    )
  }
  const tokens = text('adapter.alora.invocation_tokens')
  if (tokens !== undefined && (tokens.type !== 'array' || tokens.value.elementType !== 'uint32')) {
    problems.push(
      problem(
        'WRONG_TYPE',
        'adapter.alora.invocation_tokens must be an array of uint32',
        'adapter.alora.invocation_tokens',
      ),
    )
  }
  const architecture = text('general.architecture')
  const baseArchitecture = base.metadata.get('general.architecture')
  const name = (value: GgufValue | undefined): string => (value?.type === 'string' ? value.value : 'missing')
  if (architecture?.type !== 'string' || name(architecture) !== name(baseArchitecture)) {
    problems.push(
      problem(
        'ARCHITECTURE_MISMATCH',
        `the adapter is for architecture "${name(architecture)}" but the base model is "${name(baseArchitecture)}"`,
        'general.architecture',
      ),
    )
  }
}

interface Pair {
  a?: GgufTensorInfo
  b?: GgufTensorInfo
}

function pairsOf(adapter: GgufFile, problems: GgufProblem[]): Map<string, Pair> {
  const pairs = new Map<string, Pair>()
  for (const tensor of adapter.tensors) {
    const match = /^(.*)\.lora_([ab])$/.exec(tensor.name)
    if (!match) {
      // llama.cpp skips norm vectors and refuses anything else.
      if (!tensor.name.endsWith('_norm.weight'))
        problems.push(
          problem(
            'UNEXPECTED_TENSOR',
            `tensor "${tensor.name}" is neither a .lora_a nor a .lora_b tensor`,
            undefined,
            tensor.name,
          ),
        )
      continue
    }
    const pair = pairs.get(match[1]!) ?? {}
    pair[match[2] as 'a' | 'b'] = tensor
    pairs.set(match[1]!, pair)
  }
  return pairs
}

const shape = (tensor: GgufTensorInfo): string => `[${tensor.dims.join(', ')}]`
const dim = (tensor: GgufTensorInfo, index: number): number => tensor.dims[index] ?? 1

function checkPair(name: string, pair: Pair, baseTensor: GgufTensorInfo | undefined, problems: GgufProblem[]): number {
  if (!pair.a || !pair.b) {
    problems.push(
      problem('INCOMPLETE_PAIR', `"${name}" has a .lora_${pair.a ? 'b' : 'a'} tensor missing`, undefined, name),
    )
    return 0
  }
  if (!baseTensor) {
    problems.push(
      problem('NO_BASE_TENSOR', `the base model has no tensor "${name}" (wrong base model?)`, undefined, name),
    )
    return 0
  }
  const { a, b } = pair
  if (a.dims.slice(2).some((d) => d !== 1) || b.dims.slice(2).some((d) => d !== 1)) {
    problems.push(problem('BAD_SHAPE', `"${name}": lora tensors must be matrices`, undefined, name))
    return 0
  }
  // The token embedding is looked up, not multiplied: its A and B are swapped (llm_build_inp_embd).
  const embedding = name.endsWith('token_embd.weight')
  const fits = embedding
    ? dim(baseTensor, 0) === dim(b, 1) && dim(baseTensor, 1) === dim(a, 1)
    : dim(baseTensor, 0) === dim(a, 0) && dim(baseTensor, 1) === dim(b, 1)
  if (!fits) {
    problems.push(
      problem(
        'SHAPE_MISMATCH',
        `"${name}" is ${shape(baseTensor)} in the base model, but its lora_a is ${shape(a)} and lora_b ${shape(b)} (wrong base model?)`,
        undefined,
        name,
      ),
    )
    return 0
  }
  if (!embedding && dim(a, 1) !== dim(b, 0)) {
    problems.push(
      problem(
        'RANK_MISMATCH',
        `"${name}": lora_a ${shape(a)} and lora_b ${shape(b)} disagree on the rank (lora_a must be stored transposed)`,
        undefined,
        name,
      ),
    )
    return 0
  }
  return embedding ? dim(a, 0) : dim(a, 1)
}

/** Everything llama.cpp would refuse (or abort on) when applying this adapter to this base, and what it is. */
export function validateLoraAdapter(
  adapter: GgufFile,
  base: GgufFile,
): { problems: GgufProblem[]; info: LoraAdapterInfo | undefined } {
  const problems: GgufProblem[] = []
  checkContainer(adapter, problems)
  checkAdapterKeys(adapter, base, problems)
  if (problems.some((p) => p.code === 'NOT_ADAPTER')) return { problems, info: undefined }
  const baseTensors = new Map(base.tensors.map((tensor) => [tensor.name, tensor]))
  const pairs = pairsOf(adapter, problems)
  let rank = 0
  for (const [name, pair] of pairs) rank = Math.max(rank, checkPair(name, pair, baseTensors.get(name), problems))
  if (pairs.size === 0) problems.push(problem('NO_LORA_TENSORS', 'the file has no .lora_a/.lora_b tensors'))
  if (problems.some((p) => p.severity === 'error')) return { problems, info: undefined }
  const alpha = adapter.metadata.get('adapter.lora.alpha')
  const architecture = adapter.metadata.get('general.architecture')
  return {
    problems,
    info: {
      architecture: architecture?.type === 'string' ? architecture.value : '',
      alpha: alpha?.type === 'float32' ? alpha.value : null,
      rank,
      adaptedTensors: pairs.size,
      parameterCount: [...pairs.values()].reduce((sum, p) => sum + p.a!.elementCount + p.b!.elementCount, 0),
    },
  }
}

export interface TinyLoraOptions {
  /** The base's blocks, embedding width and feed-forward width (writeTinyLlamaGguf's defaults: 2, 64, 128). */
  blockCount?: number
  embeddingLength?: number
  feedForwardLength?: number
  rank?: number
  alpha?: number
  /** Seed of lora_b; 'zero' writes lora_b as zeros, so the adapter changes nothing. */
  seed?: number | 'zero'
  /** Which weights of each block get a pair. */
  targets?: readonly string[]
  architecture?: string
}

/**
 * A LoRA adapter for a tiny llama model, as convert_lora_to_gguf.py would write it: lora_a [n_in, rank] and
 * lora_b [rank, n_out] in F32 on each block's targets.
 */
export async function writeTinyLoraGguf(path: string, options: TinyLoraOptions = {}): Promise<GgufWriteResult> {
  const blocks = options.blockCount ?? 2
  const embedding = options.embeddingLength ?? 64
  const feedForward = options.feedForwardLength ?? 128
  const rank = options.rank ?? 4
  const seed = options.seed ?? 7
  const widths: Record<string, [number, number]> = {
    attn_q: [embedding, embedding],
    attn_output: [embedding, embedding],
    ffn_up: [embedding, feedForward],
    ffn_gate: [embedding, feedForward],
    ffn_down: [feedForward, embedding],
  }
  const tensors: GgufTensorToWrite[] = []
  const matrix = (name: string, dims: [number, number], values: () => Float32Array): void => {
    tensors.push({ name, dims, type: GgmlType.F32, data: () => [new Uint8Array(values().buffer)] })
  }
  for (let block = 0; block < blocks; block++) {
    for (const target of options.targets ?? ['attn_q', 'ffn_up']) {
      const [inputs, outputs] = widths[target] ?? [embedding, embedding]
      const name = `blk.${block}.${target}.weight`
      matrix(`${name}.lora_a`, [inputs, rank], () => randomValues(inputs * rank, 1000 + block, 1 / Math.sqrt(inputs)))
      matrix(`${name}.lora_b`, [rank, outputs], () =>
        seed === 'zero' ? new Float32Array(rank * outputs) : randomValues(rank * outputs, seed + block, 1),
      )
    }
  }
  return writeGgufFile(path, {
    metadata: [
      ['general.architecture', gguf.string(options.architecture ?? 'llama')],
      ['general.type', gguf.string('adapter')],
      ['general.name', gguf.string('Larder tiny LoRA')],
      ['adapter.type', gguf.string('lora')],
      ['adapter.lora.alpha', gguf.float32(options.alpha ?? rank)],
    ],
    tensors,
  })
}

function randomValues(count: number, seed: number, scale: number): Float32Array {
  const random = createSeededRandom(seed)
  const values = new Float32Array(count)
  for (let index = 0; index < count; index++) values[index] = (random() * 2 - 1) * scale
  return values
}
