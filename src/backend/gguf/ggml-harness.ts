/**
 * Test and benchmark support, never used by the app: a small C program compiled at run time with `cc`
 * against the ggml and llama libraries node-llama-cpp ships (the ones that load our models), so the
 * parity tests and `npm run bench -- quantize` can run ggml's own quantizers, dequantizers, GGUF parser
 * and llama-quantize (`llama_model_quantize`) on the same inputs as our TypeScript.
 *
 * Modes (argv[1]):
 *   quant  in.f32 fp16.f32 outdir        legacy types via ggml_quantize_chunk and quantize_row_*_ref; fp16 rows
 *   gguf   in.gguf out.meta              ggml's parse and re-serialization of a GGUF header
 *   kquant in.f32 imatrix.f32 n outdir   every writable type: plain and importance-weighted chunks, *_ref rows,
 *                                        dequantized plain chunks
 *   bench  in.f32 imatrix.f32|- n ms T.. MB/s of F32 input per CPU second, per type, through ggml_quantize_chunk
 *   llama  in.gguf out.gguf ftype out_type embd_type pure leave_output allow_requantize imatrix|-
 *                                        llama_model_quantize, loading the imatrix as llama-quantize does
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'

/** bins/linux-x64 of the @node-llama-cpp/linux-x64 package, wherever the package manager put it. */
export function ggmlLibraryDirectory(): string {
  try {
    const entry = createRequire(import.meta.url).resolve('@node-llama-cpp/linux-x64')
    return join(dirname(entry), '..', 'bins', 'linux-x64')
  } catch {
    return resolve('node_modules/@node-llama-cpp/linux-x64/bins/linux-x64')
  }
}

const LLAMA_LIBRARY = 'libllama.v0.4.0.so'

/** Why the harness cannot run here, or undefined when it can. */
export function ggmlHarnessSkipReason(): string | undefined {
  const directory = ggmlLibraryDirectory()
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    return `ggml parity check needs linux-x64 (this is ${process.platform}-${process.arch})`
  }
  for (const library of ['libggml-base.so', LLAMA_LIBRARY]) {
    if (!existsSync(join(directory, library))) {
      return `ggml parity check needs ${join(directory, library)} (node-llama-cpp linux-x64 binaries not installed)`
    }
  }
  const compiler = spawnSync('cc', ['--version'], { encoding: 'utf8' })
  if (compiler.error || compiler.status !== 0) return 'ggml parity check needs a C compiler on PATH as `cc`'
  return undefined
}

export interface GgmlHarness {
  readonly directory: string
  /** Runs the harness; throws with its stderr on a non-zero exit unless `allowFailure`. */
  run(args: string[], options?: { allowFailure?: boolean }): { status: number; stdout: string; stderr: string }
  close(): Promise<void>
}

export async function compileGgmlHarness(): Promise<GgmlHarness> {
  const libraryDirectory = ggmlLibraryDirectory()
  const directory = await mkdtemp(join(tmpdir(), 'larder-ggml-harness-'))
  await writeFile(join(directory, 'harness.c'), HARNESS_SOURCE)
  const compiled = spawnSync(
    'cc',
    [
      '-O2',
      '-o',
      join(directory, 'harness'),
      join(directory, 'harness.c'),
      `-L${libraryDirectory}`,
      '-l:libggml-base.so',
      `-l:${LLAMA_LIBRARY}`,
      '-lm',
      `-Wl,-rpath,${libraryDirectory}`,
    ],
    { encoding: 'utf8' },
  )
  if (compiled.status !== 0) throw new Error(`compiling the ggml harness failed:\n${compiled.stderr}`)
  return {
    directory,
    run(args, options = {}) {
      const result = spawnSync(join(directory, 'harness'), args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
      const status = result.status ?? -1
      if (status !== 0 && !options.allowFailure) {
        throw new Error(`harness ${args[0]} failed (${status}):\n${result.stderr}\n${result.stdout.slice(-2000)}`)
      }
      return { status, stdout: result.stdout, stderr: result.stderr }
    },
    close: () => rm(directory, { recursive: true, force: true }),
  }
}

/** Type ids the kquant mode writes, with their file-name label. */
export const HARNESS_TYPES: ReadonlyArray<{ id: number; name: string; hasRef: boolean; chunk: boolean }> = [
  { id: 8, name: 'Q8_0', hasRef: true, chunk: true },
  { id: 2, name: 'Q4_0', hasRef: true, chunk: true },
  { id: 3, name: 'Q4_1', hasRef: true, chunk: true },
  { id: 6, name: 'Q5_0', hasRef: true, chunk: true },
  { id: 7, name: 'Q5_1', hasRef: true, chunk: true },
  { id: 10, name: 'Q2_K', hasRef: true, chunk: true },
  { id: 11, name: 'Q3_K', hasRef: true, chunk: true },
  { id: 12, name: 'Q4_K', hasRef: true, chunk: true },
  { id: 13, name: 'Q5_K', hasRef: true, chunk: true },
  { id: 14, name: 'Q6_K', hasRef: true, chunk: true },
  { id: 15, name: 'Q8_K', hasRef: true, chunk: false },
]

const HARNESS_SOURCE = String.raw`
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Prototypes from ggml.h / ggml-quants.h / gguf.h / llama.h (enums passed as int: same ABI). */
size_t ggml_quantize_chunk(int type, const float *src, void *dst, int64_t start, int64_t nrows, int64_t n_per_row, const float *imatrix);
bool ggml_quantize_requires_imatrix(int type);
void ggml_fp32_to_fp16_row(const float *x, uint16_t *y, int64_t n);
void ggml_fp16_to_fp32_row(const uint16_t *x, float *y, int64_t n);
const char *ggml_type_name(int type);
int64_t ggml_blck_size(int type);
size_t ggml_type_size(int type);
size_t ggml_row_size(int type, int64_t ne);
typedef void (*ref_fn)(const float *, void *, int64_t);
typedef void (*deq_fn)(const void *, float *, int64_t);
void quantize_row_q8_0_ref(const float *, void *, int64_t);
void quantize_row_q4_0_ref(const float *, void *, int64_t);
void quantize_row_q4_1_ref(const float *, void *, int64_t);
void quantize_row_q5_0_ref(const float *, void *, int64_t);
void quantize_row_q5_1_ref(const float *, void *, int64_t);
void quantize_row_q2_K_ref(const float *, void *, int64_t);
void quantize_row_q3_K_ref(const float *, void *, int64_t);
void quantize_row_q4_K_ref(const float *, void *, int64_t);
void quantize_row_q5_K_ref(const float *, void *, int64_t);
void quantize_row_q6_K_ref(const float *, void *, int64_t);
void quantize_row_q8_K_ref(const float *, void *, int64_t);
void dequantize_row_q8_0(const void *, float *, int64_t);
void dequantize_row_q4_0(const void *, float *, int64_t);
void dequantize_row_q4_1(const void *, float *, int64_t);
void dequantize_row_q5_0(const void *, float *, int64_t);
void dequantize_row_q5_1(const void *, float *, int64_t);
void dequantize_row_q2_K(const void *, float *, int64_t);
void dequantize_row_q3_K(const void *, float *, int64_t);
void dequantize_row_q4_K(const void *, float *, int64_t);
void dequantize_row_q5_K(const void *, float *, int64_t);
void dequantize_row_q6_K(const void *, float *, int64_t);
void dequantize_row_q8_K(const void *, float *, int64_t);
struct gguf_context;
struct gguf_init_params { bool no_alloc; void **ctx; };
struct gguf_context *gguf_init_from_file(const char *fname, struct gguf_init_params params);
void gguf_free(struct gguf_context *ctx);
size_t gguf_get_meta_size(const struct gguf_context *ctx);
void gguf_get_meta_data(const struct gguf_context *ctx, void *data);
size_t gguf_get_data_offset(const struct gguf_context *ctx);
int64_t gguf_get_n_tensors(const struct gguf_context *ctx);
size_t gguf_get_tensor_offset(const struct gguf_context *ctx, int64_t tensor_id);
const char *gguf_get_tensor_name(const struct gguf_context *ctx, int64_t tensor_id);
int gguf_get_tensor_type(const struct gguf_context *ctx, int64_t tensor_id);
size_t gguf_get_tensor_size(const struct gguf_context *ctx, int64_t tensor_id);
int64_t gguf_find_key(const struct gguf_context *ctx, const char *key);
int gguf_get_kv_type(const struct gguf_context *ctx, int64_t key_id);
int gguf_get_arr_type(const struct gguf_context *ctx, int64_t key_id);
size_t gguf_get_arr_n(const struct gguf_context *ctx, int64_t key_id);
const char *gguf_get_arr_str(const struct gguf_context *ctx, int64_t key_id, size_t i);
uint32_t gguf_get_val_u32(const struct gguf_context *ctx, int64_t key_id);
struct llama_params {
  int32_t nthread; int ftype; int output_tensor_type; int token_embedding_type;
  bool allow_requantize, quantize_output_tensor, only_copy, pure, keep_split, dry_run;
  const void *imatrix; const void *kv_overrides; const void *tt_overrides; const int32_t *prune_layers; size_t max_buf_size;
};
struct llama_imatrix_data { const char *name; const float *data; size_t size; };
struct llama_kv_override { int tag; char key[128]; union { int64_t val_i64; double val_f64; bool val_bool; char val_str[128]; }; };
struct llama_params llama_model_quantize_default_params(void);
uint32_t llama_model_quantize(const char *in, const char *out, const struct llama_params *params);
void llama_backend_init(void);

static void *read_all(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) { perror(path); exit(2); }
  fseek(f, 0, SEEK_END); *size = (size_t)ftell(f); fseek(f, 0, SEEK_SET);
  void *data = malloc(*size ? *size : 1);
  if (fread(data, 1, *size, f) != *size) { perror("read"); exit(2); }
  fclose(f);
  return data;
}

static void write_all(const char *dir, const char *name, const void *data, size_t size) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, size, f) != size) { perror(path); exit(2); }
  fclose(f);
}

static int gguf_mode(const char *in_path, const char *out_path) {
  struct gguf_init_params params = { true, NULL };
  struct gguf_context *ctx = gguf_init_from_file(in_path, params);
  if (!ctx) { printf("gguf_init_from_file failed\n"); return 4; }
  size_t size = gguf_get_meta_size(ctx);
  void *meta = malloc(size);
  gguf_get_meta_data(ctx, meta);
  FILE *f = fopen(out_path, "wb");
  if (!f || fwrite(meta, 1, size, f) != size) { perror(out_path); return 2; }
  fclose(f);
  printf("data_offset %zu\n", gguf_get_data_offset(ctx));
  for (int64_t i = 0; i < gguf_get_n_tensors(ctx); i++) printf("tensor %lld %zu\n", (long long)i, gguf_get_tensor_offset(ctx, i));
  gguf_free(ctx);
  return 0;
}

static int quant_mode(char **argv) {
  size_t quant_bytes, half_bytes;
  float *quant_in = read_all(argv[0], &quant_bytes);
  float *half_in = read_all(argv[1], &half_bytes);
  const int64_t n = (int64_t)(quant_bytes / 4), n_per_row = 256;
  struct { int type; const char *name; ref_fn ref; } types[] = {
    { 8, "Q8_0", quantize_row_q8_0_ref }, { 2, "Q4_0", quantize_row_q4_0_ref }, { 3, "Q4_1", quantize_row_q4_1_ref },
    { 6, "Q5_0", quantize_row_q5_0_ref }, { 7, "Q5_1", quantize_row_q5_1_ref },
  };
  char name[256];
  for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
    size_t out_size = (size_t)(n / 32) * ggml_type_size(types[t].type);
    void *chunk = calloc(1, out_size), *ref = calloc(1, out_size);
    size_t written = ggml_quantize_chunk(types[t].type, quant_in, chunk, 0, n / n_per_row, n_per_row, NULL);
    if (written != out_size) { fprintf(stderr, "size mismatch for %s\n", types[t].name); return 3; }
    types[t].ref(quant_in, ref, n);
    snprintf(name, sizeof name, "%s.chunk", types[t].name); write_all(argv[2], name, chunk, out_size);
    snprintf(name, sizeof name, "%s.ref", types[t].name); write_all(argv[2], name, ref, out_size);
    printf("imatrix %s %d\n", types[t].name, (int)ggml_quantize_requires_imatrix(types[t].type));
  }
  size_t half_count = half_bytes / 4;
  uint16_t *halves = calloc(half_count ? half_count : 1, 2);
  ggml_fp32_to_fp16_row(half_in, halves, (int64_t)half_count);
  write_all(argv[2], "fp16", halves, half_count * 2);
  uint16_t *every_half = malloc(65536 * 2);
  for (int h = 0; h < 65536; h++) every_half[h] = (uint16_t)h;
  float *widened = malloc(65536 * 4);
  ggml_fp16_to_fp32_row(every_half, widened, 65536);
  write_all(argv[2], "fp32-from-fp16", widened, 65536 * 4);
  for (int type = 0; type < 43; type++) {
    printf("type %d %s %lld %zu\n", type, ggml_type_name(type), (long long)ggml_blck_size(type), ggml_type_size(type));
  }
  return 0;
}

static struct { int type; const char *name; ref_fn ref; deq_fn deq; bool chunk; } ktypes[] = {
  { 8, "Q8_0", quantize_row_q8_0_ref, dequantize_row_q8_0, true }, { 2, "Q4_0", quantize_row_q4_0_ref, dequantize_row_q4_0, true },
  { 3, "Q4_1", quantize_row_q4_1_ref, dequantize_row_q4_1, true }, { 6, "Q5_0", quantize_row_q5_0_ref, dequantize_row_q5_0, true },
  { 7, "Q5_1", quantize_row_q5_1_ref, dequantize_row_q5_1, true }, { 10, "Q2_K", quantize_row_q2_K_ref, dequantize_row_q2_K, true },
  { 11, "Q3_K", quantize_row_q3_K_ref, dequantize_row_q3_K, true }, { 12, "Q4_K", quantize_row_q4_K_ref, dequantize_row_q4_K, true },
  { 13, "Q5_K", quantize_row_q5_K_ref, dequantize_row_q5_K, true }, { 14, "Q6_K", quantize_row_q6_K_ref, dequantize_row_q6_K, true },
  { 15, "Q8_K", quantize_row_q8_K_ref, dequantize_row_q8_K, false },
};
#define N_KTYPES (sizeof ktypes / sizeof ktypes[0])

static int kquant_mode(char **argv) {
  size_t bytes, imatrix_bytes;
  float *in = read_all(argv[0], &bytes);
  float *imatrix = read_all(argv[1], &imatrix_bytes);
  const int64_t n = (int64_t)(bytes / 4), n_per_row = atoll(argv[2]);
  if (imatrix_bytes / 4 != (size_t)n_per_row || n % n_per_row) { fprintf(stderr, "bad sizes\n"); return 2; }
  char name[256];
  for (size_t t = 0; t < N_KTYPES; t++) {
    size_t out_size = ggml_row_size(ktypes[t].type, n);
    void *plain = calloc(1, out_size), *weighted = calloc(1, out_size), *ref = calloc(1, out_size);
    float *back = calloc((size_t)n, sizeof(float));
    if (ktypes[t].chunk) {
      if (ggml_quantize_chunk(ktypes[t].type, in, plain, 0, n / n_per_row, n_per_row, NULL) != out_size) return 3;
      if (ggml_quantize_chunk(ktypes[t].type, in, weighted, 0, n / n_per_row, n_per_row, imatrix) != out_size) return 3;
      snprintf(name, sizeof name, "%s.plain", ktypes[t].name); write_all(argv[3], name, plain, out_size);
      snprintf(name, sizeof name, "%s.weighted", ktypes[t].name); write_all(argv[3], name, weighted, out_size);
    }
    ktypes[t].ref(in, ref, n);
    snprintf(name, sizeof name, "%s.ref", ktypes[t].name); write_all(argv[3], name, ref, out_size);
    ktypes[t].deq(ref, back, n);
    snprintf(name, sizeof name, "%s.dequant", ktypes[t].name); write_all(argv[3], name, back, (size_t)n * 4);
    printf("requires_imatrix %s %d\n", ktypes[t].name, (int)ggml_quantize_requires_imatrix(ktypes[t].type));
    free(plain); free(weighted); free(ref); free(back);
  }
  return 0;
}

/* CPU time of this process: on a shared, busy machine it measures the work, not the wait for a core. */
static double now_seconds(void) {
  struct timespec ts; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int bench_mode(int argc, char **argv) {
  size_t bytes, imatrix_bytes = 0;
  float *in = read_all(argv[0], &bytes);
  float *imatrix = strcmp(argv[1], "-") ? read_all(argv[1], &imatrix_bytes) : NULL;
  const int64_t n = (int64_t)(bytes / 4), n_per_row = atoll(argv[2]);
  const double min_seconds = atof(argv[3]) / 1000.0;
  for (int a = 4; a < argc; a++) {
    int type = -1;
    for (size_t t = 0; t < N_KTYPES; t++) if (!strcmp(ktypes[t].name, argv[a]) && ktypes[t].chunk) type = ktypes[t].type;
    if (type < 0) { fprintf(stderr, "unknown type %s\n", argv[a]); return 2; }
    void *out = malloc(ggml_row_size(type, n));
    ggml_quantize_chunk(type, in, out, 0, n / n_per_row, n_per_row, imatrix); /* warm up */
    int runs = 0; double started = now_seconds(), elapsed = 0;
    do { ggml_quantize_chunk(type, in, out, 0, n / n_per_row, n_per_row, imatrix); runs++; elapsed = now_seconds() - started; }
    while (elapsed < min_seconds);
    printf("bench %s %.6f\n", argv[a], (double)bytes * runs / (1024.0 * 1024.0) / elapsed);
    free(out);
  }
  return 0;
}

/* The imatrix loading of llama.cpp's common/imatrix-loader.cpp and tools/quantize/quantize.cpp, in C. */
struct entry { char *name; float *values; int64_t size; };
static struct entry entries[4096];
static int n_entries = 0;
static char dataset[128] = "";
static int chunk_count = 0;

static bool load_legacy(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return false;
  int32_t count = 0;
  if (fread(&count, 4, 1, f) != 1 || count < 1) { fclose(f); return false; }
  for (int i = 0; i < count; i++) {
    int32_t len = 0, ncall = 0, nval = 0;
    if (fread(&len, 4, 1, f) != 1 || len < 0 || len > 4096) { fclose(f); return false; }
    char *name = calloc((size_t)len + 1, 1);
    if (fread(name, 1, (size_t)len, f) != (size_t)len) { fclose(f); return false; }
    if (fread(&ncall, 4, 1, f) != 1 || fread(&nval, 4, 1, f) != 1 || nval < 1) { fclose(f); return false; }
    float *sums = malloc((size_t)nval * 4);
    if (fread(sums, 4, (size_t)nval, f) != (size_t)nval) { fclose(f); return false; }
    for (int64_t j = 0; j < nval; j++) sums[j] = ncall > 0 ? sums[j] / (float)(int64_t)ncall : sums[j];
    entries[n_entries++] = (struct entry){ name, sums, nval };
  }
  int32_t calls = 0, len = 0;
  if (fread(&calls, 4, 1, f) == 1) {
    chunk_count = calls;
    if (fread(&len, 4, 1, f) == 1 && len > 0) {
      char *text = calloc((size_t)len + 1, 1);
      if (fread(text, 1, (size_t)len, f) == (size_t)len) { strncpy(dataset, text, 127); }
    }
  }
  fclose(f);
  return true;
}

static bool load_gguf(const char *path, struct gguf_context *ctx) {
  int64_t datasets = gguf_find_key(ctx, "imatrix.datasets"), chunks = gguf_find_key(ctx, "imatrix.chunk_count");
  int64_t chunk_size = gguf_find_key(ctx, "imatrix.chunk_size");
  if (datasets < 0 || chunks < 0 || chunk_size < 0) { fprintf(stderr, "missing imatrix metadata\n"); return false; }
  if (gguf_get_arr_n(ctx, datasets) > 0) strncpy(dataset, gguf_get_arr_str(ctx, datasets, 0), 127);
  chunk_count = (int)gguf_get_val_u32(ctx, chunks);
  size_t size; unsigned char *file = read_all(path, &size);
  size_t data = gguf_get_data_offset(ctx);
  for (int64_t t = 0; t < gguf_get_n_tensors(ctx); t++) {
    const char *name = gguf_get_tensor_name(ctx, t);
    size_t len = strlen(name);
    if (len < 8 || strcmp(name + len - 8, ".in_sum2")) continue;
    char base[512]; snprintf(base, sizeof base, "%.*s", (int)(len - 8), name);
    char counts_name[600]; snprintf(counts_name, sizeof counts_name, "%s.counts", base);
    int64_t c = -1;
    for (int64_t u = 0; u < gguf_get_n_tensors(ctx); u++) if (!strcmp(gguf_get_tensor_name(ctx, u), counts_name)) c = u;
    if (c < 0 || gguf_get_tensor_type(ctx, t) != 0 || gguf_get_tensor_type(ctx, c) != 0) return false;
    int64_t nval = (int64_t)(gguf_get_tensor_size(ctx, t) / 4), ncounts = (int64_t)(gguf_get_tensor_size(ctx, c) / 4);
    const float *sums = (const float *)(file + data + gguf_get_tensor_offset(ctx, t));
    const float *counts = (const float *)(file + data + gguf_get_tensor_offset(ctx, c));
    float *values = malloc((size_t)nval * 4);
    int64_t ne0 = nval / ncounts;
    for (int64_t j = 0; j < ncounts; j++) {
      const float count = (float)(int64_t)lroundf(counts[j]);
      for (int64_t i = 0; i < ne0; i++) values[j * ne0 + i] = count > 0.0f ? sums[j * ne0 + i] / count : 1;
    }
    entries[n_entries++] = (struct entry){ strdup(base), values, nval };
  }
  return true;
}

static int llama_mode(char **argv) {
  llama_backend_init();
  struct llama_params params = llama_model_quantize_default_params();
  params.nthread = 1;
  params.ftype = atoi(argv[2]);
  if (atoi(argv[3]) >= 0) params.output_tensor_type = atoi(argv[3]);
  if (atoi(argv[4]) >= 0) params.token_embedding_type = atoi(argv[4]);
  params.pure = atoi(argv[5]) != 0;
  params.quantize_output_tensor = atoi(argv[6]) == 0;
  params.allow_requantize = atoi(argv[7]) != 0;
  static struct llama_imatrix_data data[4097];
  static struct llama_kv_override overrides[5];
  if (strcmp(argv[8], "-")) {
    struct gguf_init_params gp = { true, NULL };
    struct gguf_context *ctx = gguf_init_from_file(argv[8], gp);
    bool ok = ctx ? load_gguf(argv[8], ctx) : load_legacy(argv[8]);
    if (!ok) { fprintf(stderr, "failed to load imatrix\n"); return 5; }
    for (int i = 0; i < n_entries; i++) data[i] = (struct llama_imatrix_data){ entries[i].name, entries[i].values, (size_t)entries[i].size };
    data[n_entries] = (struct llama_imatrix_data){ NULL, NULL, 0 };
    params.imatrix = data;
    int k = 0;
    overrides[k].tag = 3; strcpy(overrides[k].key, "quantize.imatrix.file"); strncpy(overrides[k].val_str, argv[8], 127); k++;
    if (dataset[0]) { overrides[k].tag = 3; strcpy(overrides[k].key, "quantize.imatrix.dataset"); strcpy(overrides[k].val_str, dataset); k++; }
    overrides[k].tag = 0; strcpy(overrides[k].key, "quantize.imatrix.entries_count"); overrides[k].val_i64 = n_entries; k++;
    if (chunk_count > 0) { overrides[k].tag = 0; strcpy(overrides[k].key, "quantize.imatrix.chunks_count"); overrides[k].val_i64 = chunk_count; k++; }
    overrides[k].key[0] = 0;
    params.kv_overrides = overrides;
  }
  return (int)llama_model_quantize(argv[0], argv[1], &params);
}

int main(int argc, char **argv) {
  if (argc == 4 && !strcmp(argv[1], "gguf")) return gguf_mode(argv[2], argv[3]);
  if (argc == 5 && !strcmp(argv[1], "quant")) return quant_mode(argv + 2);
  if (argc == 6 && !strcmp(argv[1], "kquant")) return kquant_mode(argv + 2);
  if (argc >= 7 && !strcmp(argv[1], "bench")) return bench_mode(argc - 2, argv + 2);
  if (argc == 11 && !strcmp(argv[1], "llama")) return llama_mode(argv + 2);
  fprintf(stderr, "usage: see ggml-harness.ts\n");
  return 2;
}
`
