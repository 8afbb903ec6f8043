/**
 * llama.cpp's C API (training, tokenization, decoding) called from TypeScript through koffi, an FFI with prebuilt
 * binaries inside its npm package: nothing is compiled on the operator's machine. Only the trainer worker process
 * loads this module, so a native abort (GGML_ASSERT, out of memory) ends that process and never the backend.
 *
 * The struct layouts below copy include/llama.h and ggml/include/ggml-opt.h of the llama.cpp release node-llama-cpp
 * 3.21.1 ships (both packages are pinned exactly). `checkLayout()` decodes llama.cpp's own default parameters
 * through them and refuses to train when a field is not where it should be, instead of passing garbage.
 *
 * No `koffi.view` (external ArrayBuffers are forbidden in Electron's V8 sandbox): bulk data crosses with
 * `ggml_backend_tensor_set/get` and typed arrays, logits with `koffi.decode`.
 */
import koffi from 'koffi'
import type { LlamaLibraries } from './bins'

type Pointer = unknown
type NativeFunction = (...args: unknown[]) => unknown

export interface ModelParams {
  n_gpu_layers: number
  load_mode: number
  use_extra_bufts: boolean
  [field: string]: unknown
}

export interface ContextParams {
  n_ctx: number
  n_batch: number
  n_ubatch: number
  n_seq_max: number
  n_threads: number
  n_threads_batch: number
  flash_attn_type: number
  type_k: number
  type_v: number
  [field: string]: unknown
}

export interface OptimizerParams {
  adamw: { alpha: number; beta1: number; beta2: number; eps: number; wd: number }
  sgd: { alpha: number; wd: number }
}

const GGML_TYPE_F32 = 0
const GGML_TYPE_I32 = 26
const LLAMA_LOAD_MODE_NONE = 0
const LLAMA_FLASH_ATTN_TYPE_DISABLED = 0
export const OPTIMIZER_ADAMW = 0

let types: ReturnType<typeof defineTypes> | undefined

function defineTypes() {
  const modelParams = koffi.struct('llama_model_params', {
    devices: 'void *',
    tensor_buft_overrides: 'void *',
    n_gpu_layers: 'int32_t',
    split_mode: 'int',
    load_mode: 'int',
    lazy_mode: 'int',
    main_gpu: 'int32_t',
    tensor_split: 'void *',
    progress_callback: 'void *',
    progress_callback_user_data: 'void *',
    kv_overrides: 'void *',
    vocab_only: 'bool',
    check_tensors: 'bool',
    use_extra_bufts: 'bool',
    no_host: 'bool',
    no_alloc: 'bool',
    load_mtp: 'bool',
  })
  const contextParams = koffi.struct('llama_context_params', {
    n_ctx: 'uint32_t',
    n_batch: 'uint32_t',
    n_ubatch: 'uint32_t',
    n_seq_max: 'uint32_t',
    n_rs_seq: 'uint32_t',
    n_outputs_max: 'uint32_t',
    n_outputs_max_per_seq: 'uint32_t',
    n_threads: 'int32_t',
    n_threads_batch: 'int32_t',
    ctx_type: 'int',
    rope_scaling_type: 'int',
    pooling_type: 'int',
    attention_type: 'int',
    flash_attn_type: 'int',
    rope_freq_base: 'float',
    rope_freq_scale: 'float',
    yarn_ext_factor: 'float',
    yarn_attn_factor: 'float',
    yarn_beta_fast: 'float',
    yarn_beta_slow: 'float',
    yarn_orig_ctx: 'uint32_t',
    defrag_thold: 'float',
    cb_eval: 'void *',
    cb_eval_user_data: 'void *',
    type_k: 'int',
    type_v: 'int',
    abort_callback: 'void *',
    abort_callback_data: 'void *',
    embeddings: 'bool',
    offload_kqv: 'bool',
    no_perf: 'bool',
    op_offload: 'bool',
    swa_full: 'bool',
    kv_unified: 'bool',
    samplers: 'void *',
    n_samplers: 'size_t',
    ctx_other: 'void *',
  })
  const batch = koffi.struct('llama_batch', {
    n_tokens: 'int32_t',
    token: 'void *',
    embd: 'void *',
    pos: 'void *',
    n_seq_id: 'void *',
    seq_id: 'void *',
    logits: 'void *',
  })
  const chatMessage = koffi.struct('llama_chat_message', { role: 'const char *', content: 'const char *' })
  const optimizerParams = koffi.struct('ggml_opt_optimizer_params', {
    adamw: koffi.struct({ alpha: 'float', beta1: 'float', beta2: 'float', eps: 'float', wd: 'float' }),
    sgd: koffi.struct({ alpha: 'float', wd: 'float' }),
  })
  const optParams = koffi.struct('llama_opt_params', {
    n_ctx_train: 'uint32_t',
    param_filter: 'void *',
    param_filter_ud: 'void *',
    get_opt_pars: 'void *',
    get_opt_pars_ud: 'void *',
    optimizer_type: 'int',
  })
  const paramFilter = koffi.proto('bool larder_param_filter(void *tensor, void *userdata)')
  const getOptimizerParams = koffi.proto('ggml_opt_optimizer_params larder_get_opt_pars(void *userdata)')
  return { modelParams, contextParams, batch, chatMessage, optimizerParams, optParams, paramFilter, getOptimizerParams }
}

export class LayoutMismatchError extends Error {}

/** The functions of libllama / libggml / libggml-base the trainer uses, bound once per process. */
export class LlamaNative {
  readonly t = (types ??= defineTypes())
  private readonly f: Record<string, NativeFunction>
  readonly libraries: LlamaLibraries

  constructor(libraries: LlamaLibraries) {
    this.libraries = libraries
    // Dependencies first, so each library finds the ones it needs already loaded (also on Windows).
    const base = koffi.load(libraries.ggmlBase)
    const ggml = koffi.load(libraries.ggml)
    const llama = koffi.load(libraries.llama)
    const bind = (lib: ReturnType<typeof koffi.load>, declarations: string[]): Record<string, NativeFunction> =>
      Object.fromEntries(
        declarations.map((declaration) => {
          const fn = lib.func(declaration) as NativeFunction
          const name = /([a-z_0-9]+)\s*\(/.exec(declaration)![1]!
          return [name, fn]
        }),
      )
    this.f = {
      ...bind(ggml, ['void ggml_backend_load_all_from_path(const char *dir)']),
      ...bind(base, [
        'void *ggml_opt_dataset_init(int type_data, int type_label, int64_t ne_datapoint, int64_t ne_label, int64_t ndata, int64_t ndata_shard)',
        'void ggml_opt_dataset_free(void *dataset)',
        'void *ggml_opt_dataset_data(void *dataset)',
        'void *ggml_opt_dataset_labels(void *dataset)',
        'void *ggml_opt_result_init()',
        'void ggml_opt_result_free(void *result)',
        'void ggml_opt_result_reset(void *result)',
        'void ggml_opt_result_ndata(void *result, _Out_ int64_t *ndata)',
        'void ggml_opt_result_loss(void *result, _Out_ double *loss, _Out_ double *unc)',
        'void ggml_opt_result_accuracy(void *result, _Out_ double *accuracy, _Out_ double *unc)',
        'const char *ggml_get_name(void *tensor)',
        'size_t ggml_nbytes(void *tensor)',
        'int ggml_n_dims(void *tensor)',
        'void ggml_backend_tensor_set(void *tensor, void *data, size_t offset, size_t size)',
        'void ggml_backend_tensor_get(void *tensor, _Inout_ void *data, size_t offset, size_t size)',
        'ggml_opt_optimizer_params ggml_opt_get_default_optimizer_params(void *userdata)',
      ]),
      ...bind(llama, [
        'void llama_backend_init()',
        'llama_model_params llama_model_default_params()',
        'llama_context_params llama_context_default_params()',
        'void *llama_model_load_from_file(const char *path, llama_model_params params)',
        'void llama_model_free(void *model)',
        'void *llama_init_from_model(void *model, llama_context_params params)',
        'void llama_free(void *ctx)',
        'uint32_t llama_n_ctx(void *ctx)',
        'void *llama_model_get_vocab(void *model)',
        'int32_t llama_vocab_n_tokens(void *vocab)',
        'int32_t llama_vocab_bos(void *vocab)',
        'int32_t llama_vocab_eos(void *vocab)',
        'int32_t llama_model_n_layer(void *model)',
        'uint64_t llama_model_n_params(void *model)',
        'int32_t llama_tokenize(void *vocab, const char *text, int32_t text_len, _Out_ int32_t *tokens, int32_t n_tokens_max, bool add_special, bool parse_special)',
        'int32_t llama_token_to_piece(void *vocab, int32_t token, _Out_ uint8_t *buf, int32_t length, int32_t lstrip, bool special)',
        'const char *llama_model_chat_template(void *model, const char *name)',
        'int32_t llama_chat_apply_template(const char *tmpl, llama_chat_message *chat, size_t n_msg, bool add_ass, _Out_ uint8_t *buf, int32_t length)',
        'llama_batch llama_batch_init(int32_t n_tokens, int32_t embd, int32_t n_seq_max)',
        'void llama_batch_free(llama_batch batch)',
        'int32_t llama_decode(void *ctx, llama_batch batch)',
        'void *llama_get_logits_ith(void *ctx, int32_t i)',
        'void *llama_get_memory(void *ctx)',
        'void llama_memory_clear(void *memory, bool data)',
        'void llama_opt_init(void *ctx, void *model, llama_opt_params params)',
        'void llama_opt_epoch(void *ctx, void *dataset, void *result_train, void *result_eval, int64_t idata_split, void *callback_train, void *callback_eval)',
      ]),
    }
  }

  call<T>(name: string, ...args: unknown[]): T {
    const fn = this.f[name]
    if (!fn) throw new Error(`llama function ${name} is not bound`)
    return fn(...args) as T
  }

  /**
   * Decodes llama.cpp's own defaults through our struct definitions. A field in the wrong place shows up as a wrong
   * default, so a different llama.cpp build is refused here instead of being handed garbage.
   */
  checkLayout(): void {
    const context = this.call<ContextParams>('llama_context_default_params')
    const model = this.call<ModelParams>('llama_model_default_params')
    const optimizer = this.call<OptimizerParams>('ggml_opt_get_default_optimizer_params', null)
    const expected: Array<[string, unknown, unknown]> = [
      ['context.n_ctx', context.n_ctx, 512],
      ['context.n_batch', context.n_batch, 2048],
      ['context.n_ubatch', context.n_ubatch, 512],
      ['context.n_seq_max', context.n_seq_max, 1],
      ['context.n_outputs_max_per_seq', context.n_outputs_max_per_seq, 1],
      ['context.yarn_ext_factor', context.yarn_ext_factor, -1],
      ['context.type_k', context.type_k, 1],
      ['context.offload_kqv', context.offload_kqv, true],
      ['context.no_perf', context.no_perf, true],
      ['context.swa_full', context.swa_full, true],
      ['context.kv_unified', context.kv_unified, false],
      ['context.n_samplers', context.n_samplers, 0],
      ['model.n_gpu_layers', model.n_gpu_layers, -1],
      ['model.load_mode', model.load_mode, -1],
      ['model.use_extra_bufts', model.use_extra_bufts, true],
      ['model.load_mtp', model.load_mtp, false],
      ['optimizer.adamw.beta2', Math.fround(optimizer.adamw.beta2), Math.fround(0.999)],
      ['optimizer.sgd.alpha', Math.fround(optimizer.sgd.alpha), Math.fround(1e-3)],
    ]
    const wrong = expected.filter(([, actual, want]) => actual !== want)
    if (wrong.length > 0) {
      throw new LayoutMismatchError(
        `The llama.cpp libraries in ${this.libraries.dir} do not match the structures Larder was written for ` +
          `(${wrong.map(([field, actual, want]) => `${field} is ${String(actual)}, expected ${String(want)}`).join('; ')}). ` +
          'Reinstall Larder so node-llama-cpp and the trainer agree.',
      )
    }
  }

  /** Loads the CPU (and any GPU) backends that sit beside the libraries; must run before anything else. */
  init(): void {
    this.call('ggml_backend_load_all_from_path', this.libraries.dir)
    this.call('llama_backend_init')
  }

  loadModel(path: string, gpuLayers: number): Pointer {
    const params = this.call<ModelParams>('llama_model_default_params')
    params.n_gpu_layers = gpuLayers
    // Training writes to the weights in place: no memory-mapped (read-only) tensors, no repacked CPU layouts.
    params.load_mode = LLAMA_LOAD_MODE_NONE
    params.use_extra_bufts = false
    const model = this.call<Pointer>('llama_model_load_from_file', path, params)
    if (!model) throw new Error(`llama.cpp could not load ${path} (see the log above for its reason).`)
    return model
  }

  createContext(model: Pointer, options: { context: number; batch: number; threads: number }): Pointer {
    const params = this.call<ContextParams>('llama_context_default_params')
    params.n_ctx = options.context
    params.n_batch = options.batch
    params.n_ubatch = options.batch
    params.n_seq_max = 1
    params.n_threads = options.threads
    params.n_threads_batch = options.threads
    // Training needs F32 caches (no OUT_PROD for F16) and no flash attention (it has no backward pass).
    params.type_k = GGML_TYPE_F32
    params.type_v = GGML_TYPE_F32
    params.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED
    const context = this.call<Pointer>('llama_init_from_model', model, params)
    if (!context) throw new Error('llama.cpp could not create a context for training (out of memory?).')
    return context
  }

  tokenize(vocab: Pointer, text: string, addSpecial: boolean): Int32Array {
    const bytes = Buffer.from(text, 'utf8')
    let out = new Int32Array(bytes.length + 16)
    let count = this.call<number>('llama_tokenize', vocab, bytes, bytes.length, out, out.length, addSpecial, true)
    if (count < 0) {
      out = new Int32Array(-count)
      count = this.call<number>('llama_tokenize', vocab, bytes, bytes.length, out, out.length, addSpecial, true)
    }
    if (count < 0) throw new Error('llama.cpp could not tokenize a dataset example.')
    return out.slice(0, count)
  }

  detokenize(vocab: Pointer, tokens: ArrayLike<number>): string {
    const pieces: Buffer[] = []
    const buffer = Buffer.alloc(256)
    for (let index = 0; index < tokens.length; index++) {
      const length = this.call<number>('llama_token_to_piece', vocab, tokens[index], buffer, buffer.length, 0, false)
      if (length > 0) pieces.push(Buffer.from(buffer.subarray(0, length)))
    }
    return Buffer.concat(pieces).toString('utf8')
  }

  /** The model's chat template formatted by llama.cpp, or undefined when llama.cpp does not know the template. */
  applyChatTemplate(
    template: string,
    messages: ReadonlyArray<{ role: string; content: string }>,
    addAssistant: boolean,
  ): string | undefined {
    const chars = messages.reduce((sum, message) => sum + Buffer.byteLength(message.content) + 64, 256)
    let buffer = Buffer.alloc(chars * 2)
    let length = this.call<number>(
      'llama_chat_apply_template',
      template,
      messages,
      messages.length,
      addAssistant,
      buffer,
      buffer.length,
    )
    if (length < 0) return undefined
    if (length > buffer.length) {
      buffer = Buffer.alloc(length)
      length = this.call<number>(
        'llama_chat_apply_template',
        template,
        messages,
        messages.length,
        addAssistant,
        buffer,
        buffer.length,
      )
    }
    return buffer.subarray(0, length).toString('utf8')
  }

  /** Reads `count` floats at a native address (logits). */
  readFloats(address: Pointer, count: number): Float32Array {
    return koffi.decode(address, koffi.array('float', count, 'Typed')) as Float32Array
  }

  newDataset(context: number, windows: number): { dataset: Pointer; data: Pointer; labels: Pointer } {
    const dataset = this.call<Pointer>(
      'ggml_opt_dataset_init',
      GGML_TYPE_I32,
      GGML_TYPE_I32,
      context,
      context,
      windows,
      1,
    )
    return {
      dataset,
      data: this.call('ggml_opt_dataset_data', dataset),
      labels: this.call('ggml_opt_dataset_labels', dataset),
    }
  }

  resultNumbers(result: Pointer): { loss: number; accuracy: number; count: number } {
    const loss = [0]
    const accuracy = [0]
    const uncertainty = [0]
    const count = [0]
    this.call('ggml_opt_result_loss', result, loss, uncertainty)
    this.call('ggml_opt_result_accuracy', result, accuracy, uncertainty)
    this.call('ggml_opt_result_ndata', result, count)
    return { loss: loss[0]!, accuracy: accuracy[0]!, count: Number(count[0]) }
  }

  registerParamFilter(filter: (tensor: Pointer) => boolean): Pointer {
    return koffi.register((tensor: Pointer) => filter(tensor), koffi.pointer(this.t.paramFilter)) as unknown as Pointer
  }

  registerOptimizerParams(next: () => OptimizerParams): Pointer {
    return koffi.register(() => next(), koffi.pointer(this.t.getOptimizerParams)) as unknown as Pointer
  }

  unregister(callback: Pointer): void {
    koffi.unregister(callback as never)
  }

  defaultOptimizerParams(): OptimizerParams {
    return this.call<OptimizerParams>('ggml_opt_get_default_optimizer_params', null)
  }
}
