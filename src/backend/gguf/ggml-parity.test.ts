/**
 * Byte-identity proof against the real ggml: compiles a small C harness that links the
 * libggml-base.so shipped by node-llama-cpp (the same library that loads our models), runs
 * ggml_quantize_chunk, the quantize_row_*_ref functions and the fp16 row converters on the same
 * inputs as our TypeScript code, and compares every byte.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'

import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { fp16ArrayToFp32, fp16BitsToFp32, fp32ArrayToFp16 } from './fp16.js'
import { quantizeRow, type LegacyQuantTypeName } from './quant-blocks.js'
import { quantizeGgufFile } from './quantize.js'
import { readGgufFile } from './reader.js'
import { everyValueTypeMetadata, sampleTensors } from './test-support.js'
import { CHATML_TEMPLATE, createSeededRandom, writeTinyLlamaGguf } from './tiny-model.js'
import { gguf, knownGgmlTypes } from './types.js'
import { validateGguf } from './validate.js'
import { writeGgufFile } from './writer.js'

/** bins/linux-x64 of the @node-llama-cpp/linux-x64 package, wherever the package manager put it. */
function findLibraryDirectory(): string {
  try {
    const entry = createRequire(import.meta.url).resolve('@node-llama-cpp/linux-x64')
    return join(dirname(entry), '..', 'bins', 'linux-x64')
  } catch {
    return resolve('node_modules/@node-llama-cpp/linux-x64/bins/linux-x64')
  }
}

const libraryDirectory = findLibraryDirectory()

function skipReason(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    return `ggml parity check needs linux-x64 (this is ${process.platform}-${process.arch})`
  }
  if (!existsSync(join(libraryDirectory, 'libggml-base.so'))) {
    return `ggml parity check needs ${join(libraryDirectory, 'libggml-base.so')} (node-llama-cpp linux-x64 binaries not installed)`
  }
  const compiler = spawnSync('cc', ['--version'], { encoding: 'utf8' })
  if (compiler.error || compiler.status !== 0) {
    return 'ggml parity check needs a C compiler on PATH as `cc`'
  }
  return undefined
}

const reason = skipReason()
if (reason) console.warn(`[skip] ${reason}`)

const harnessSource = String.raw`
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prototypes copied from ggml.h / ggml-quants.h (enums passed as int: same ABI). */
size_t ggml_quantize_chunk(int type, const float *src, void *dst, int64_t start, int64_t nrows, int64_t n_per_row, const float *imatrix);
bool ggml_quantize_requires_imatrix(int type);
void ggml_fp32_to_fp16_row(const float *x, uint16_t *y, int64_t n);
void ggml_fp16_to_fp32_row(const uint16_t *x, float *y, int64_t n);
const char *ggml_type_name(int type);
int64_t ggml_blck_size(int type);
size_t ggml_type_size(int type);
void quantize_row_q8_0_ref(const float *x, void *y, int64_t k);
void quantize_row_q4_0_ref(const float *x, void *y, int64_t k);
void quantize_row_q4_1_ref(const float *x, void *y, int64_t k);
void quantize_row_q5_0_ref(const float *x, void *y, int64_t k);
void quantize_row_q5_1_ref(const float *x, void *y, int64_t k);
struct gguf_context;
struct gguf_init_params { bool no_alloc; void **ctx; };
struct gguf_context *gguf_init_from_file(const char *fname, struct gguf_init_params params);
void gguf_free(struct gguf_context *ctx);
size_t gguf_get_meta_size(const struct gguf_context *ctx);
void gguf_get_meta_data(const struct gguf_context *ctx, void *data);
size_t gguf_get_data_offset(const struct gguf_context *ctx);
int64_t gguf_get_n_tensors(const struct gguf_context *ctx);
size_t gguf_get_tensor_offset(const struct gguf_context *ctx, int64_t tensor_id);

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

/* Reads a GGUF file with ggml's own parser and writes ggml's re-serialization of its header. */
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

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "gguf") == 0) return gguf_mode(argv[2], argv[3]);
  if (argc != 5 || strcmp(argv[1], "quant") != 0) { fprintf(stderr, "usage: harness quant quant.f32 fp16.f32 outdir | harness gguf in.gguf out.meta\n"); return 2; }
  argv++;
  size_t quant_bytes, half_bytes;
  float *quant_in = read_all(argv[1], &quant_bytes);
  float *half_in = read_all(argv[2], &half_bytes);
  const int64_t n = (int64_t)(quant_bytes / 4), n_per_row = 256;
  struct { int type; const char *name; void (*ref)(const float *, void *, int64_t); } types[] = {
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
    snprintf(name, sizeof name, "%s.chunk", types[t].name); write_all(argv[3], name, chunk, out_size);
    snprintf(name, sizeof name, "%s.ref", types[t].name); write_all(argv[3], name, ref, out_size);
    printf("imatrix %s %d\n", types[t].name, (int)ggml_quantize_requires_imatrix(types[t].type));
  }
  size_t half_count = half_bytes / 4;
  uint16_t *halves = calloc(half_count ? half_count : 1, 2);
  ggml_fp32_to_fp16_row(half_in, halves, (int64_t)half_count);
  write_all(argv[3], "fp16", halves, half_count * 2);
  uint16_t *every_half = malloc(65536 * 2);
  for (int h = 0; h < 65536; h++) every_half[h] = (uint16_t)h;
  float *widened = malloc(65536 * 4);
  ggml_fp16_to_fp32_row(every_half, widened, 65536);
  write_all(argv[3], "fp32-from-fp16", widened, 65536 * 4);
  for (int type = 0; type < 43; type++) {
    printf("type %d %s %lld %zu\n", type, ggml_type_name(type), (long long)ggml_blck_size(type), ggml_type_size(type));
  }
  return 0;
}
`

/** Blocks chosen to hit every rule in the reference code: ties, extremes, zeros, subnormals. */
function quantizationInputs(): Float32Array {
  const random = createSeededRandom(1234)
  const blocks: number[][] = []
  const block = (fill: (index: number) => number): void => {
    blocks.push(Array.from({ length: 32 }, (_, index) => fill(index)))
  }
  // Random data at several scales.
  for (const scale of [1e-3, 0.02, 1, 37, 1000]) {
    for (let repeat = 0; repeat < 100; repeat++) block(() => (random() * 2 - 1) * scale)
  }
  // Near-ties with awkward scales: values sit within float32 rounding of a quantization boundary,
  // so skipping any single float32 rounding step (or rounding the wrong way) changes a level.
  for (let repeat = 0; repeat < 200; repeat++) {
    const low = Math.fround(-random() * 3)
    const high = Math.fround(random() * 3)
    for (const levels of [15, 31]) {
      const step = Math.fround(Math.fround(high - low) / levels)
      block((index) =>
        index === 0 ? low : index === 1 ? high : Math.fround(low + (Math.floor(random() * levels) + 0.5) * step),
      )
    }
    for (const halfLevels of [8, 16]) {
      const step = Math.fround(high / halfLevels)
      block((index) =>
        index === 0 ? -high : Math.fround((Math.floor(random() * 2 * halfLevels) - halfLevels + 0.5) * step),
      )
    }
    const step = Math.fround(high / 127)
    block((index) => (index === 0 ? high : Math.fround((Math.floor(random() * 254) - 127 + 0.5) * step)))
  }
  block(() => 0) // all-zero block: Q4_0/Q5_0 scale is -0 (0x8000)
  block(() => -0)
  block(() => 1.5) // constant block: Q4_1/Q5_1 range is zero
  block(() => -2.25)
  // Exact ties: scale 1 so x*id lands on .5 boundaries.
  block((index) => (index === 0 ? -8 : index % 2 ? index / 2 - 8 + 0.5 : -(index % 8) - 0.5)) // Q4_0 d = 1
  block((index) => (index === 0 ? 8 : (index % 16) - 7.5)) // Q4_0 d = -1
  block((index) => (index === 0 ? -16 : (index % 32) - 15.5)) // Q5_0 d = 1
  block((index) => (index === 0 ? 127 : ((index * 7) % 255) - 127 + 0.5)) // Q8_0 d = 1
  block((index) => (index === 0 ? -127 : -(((index * 5) % 120) + 0.5))) // Q8_0 negative halves
  block((index) => (index === 0 ? 0 : index === 1 ? 15 : (index % 15) + 0.5)) // Q4_1 d = 1
  block((index) => (index === 0 ? 0 : index === 1 ? 31 : (index % 31) + 0.5)) // Q5_1 d = 1
  block((index) => -(index % 8) - 0.5) // negative halves only
  // Equal magnitudes of both signs: the first one wins in Q4_0/Q5_0.
  block((index) => (index === 3 ? 3 : index === 9 ? -3 : index / 20))
  block((index) => (index === 3 ? -3 : index === 9 ? 3 : index / 20))
  block((index) => (index % 2 ? 5 : -5))
  // +/- extremes and big values (scales beyond fp16 range become inf, as in C).
  block((index) => (index % 2 ? 65504 : -65504))
  block((index) => (index === 5 ? 1e6 : index))
  block((index) => (index === 0 ? 3.4028234663852886e38 : index === 1 ? -3.4028234663852886e38 : index))
  // Subnormals and tiny normals: inverse scales overflow to infinity here.
  block((index) => (index % 3 === 0 ? 1e-40 : index % 3 === 1 ? -3e-41 : 0))
  block((index) => (index % 2 ? 1.4e-45 : 0))
  block((index) => (index === 7 ? 1e-38 : index * 1e-39))
  block((index) => (index === 0 ? 2e-37 : -index * 1e-39))
  block((index) => (index % 4 === 0 ? 6e-8 : 3e-8)) // around the smallest fp16 subnormal
  block((index) => (index % 2 ? 2 ** -24 : -(2 ** -25))) // smallest fp16 subnormal and its half (a tie)
  // Pad to whole 256-element rows.
  while (blocks.length % 8 !== 0) block(() => random() - 0.5)
  return Float32Array.from(blocks.flat())
}

/** Every fp16 value plus the float32 values just around each rounding midpoint, and specials. */
function halfConversionInputs(quantInputs: Float32Array): Float32Array {
  const values: number[] = Array.from(quantInputs)
  const bits = new Uint32Array(1)
  const asFloat = new Float32Array(bits.buffer)
  const addBits = (pattern: number): void => {
    bits[0] = pattern >>> 0
    values.push(asFloat[0] as number)
  }
  for (let half = 0; half < 0x7c00; half++) {
    const low = fp16BitsToFp32(half)
    const high = fp16BitsToFp32(half + 1)
    asFloat[0] = (low + high) / 2 // exact: fp16 values have 11 significant bits
    const midpoint = bits[0] as number
    for (const delta of [-1, 0, 1]) {
      addBits(midpoint + delta)
      addBits((midpoint + delta) | 0x80000000)
    }
    values.push(low, -low)
  }
  for (const pattern of [
    0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001, 0x7fa00000, 0xffffffff, 0x7f7fffff, 0x00000001,
    0x80000001, 0x00800000,
  ]) {
    addBits(pattern)
  }
  values.push(65504, 65519.99, 65520, 65536, 1e10, -1e10, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -14, 2 ** -15)
  return Float32Array.from(values)
}

describe.skipIf(reason !== undefined)('byte identity with the ggml library shipped by node-llama-cpp', () => {
  let workDirectory = ''
  let harnessOutput = ''
  const quantInputs = quantizationInputs()
  const halfInputs = halfConversionInputs(quantInputs)

  beforeAll(async () => {
    workDirectory = await mkdtemp(join(tmpdir(), 'larder-ggml-parity-'))
    await writeFile(join(workDirectory, 'harness.c'), harnessSource)
    const compiled = spawnSync(
      'cc',
      [
        '-O2',
        '-o',
        join(workDirectory, 'harness'),
        join(workDirectory, 'harness.c'),
        `-L${libraryDirectory}`,
        '-l:libggml-base.so',
        `-Wl,-rpath,${libraryDirectory}`,
      ],
      { encoding: 'utf8' },
    )
    if (compiled.status !== 0) throw new Error(`compiling the harness failed:\n${compiled.stderr}`)
    await writeFile(join(workDirectory, 'quant.f32'), new Uint8Array(quantInputs.buffer))
    await writeFile(join(workDirectory, 'fp16.f32'), new Uint8Array(halfInputs.buffer))
    const run = spawnSync(
      join(workDirectory, 'harness'),
      ['quant', join(workDirectory, 'quant.f32'), join(workDirectory, 'fp16.f32'), workDirectory],
      {
        encoding: 'utf8',
      },
    )
    if (run.status !== 0) throw new Error(`harness failed (${run.status}):\n${run.stderr}`)
    harnessOutput = run.stdout
  })

  afterAll(async () => {
    if (workDirectory) await rm(workDirectory, { recursive: true, force: true })
  })

  const types: LegacyQuantTypeName[] = ['Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1']
  for (const type of types) {
    it(`${type}: TypeScript, ggml_quantize_chunk and quantize_row_${type.toLowerCase()}_ref agree byte for byte`, async () => {
      const fromChunk = new Uint8Array(await readFile(join(workDirectory, `${type}.chunk`)))
      const fromReference = new Uint8Array(await readFile(join(workDirectory, `${type}.ref`)))
      const ours = quantizeRow(type, quantInputs)
      // Without an importance matrix the library's chunk path is the reference path.
      expect(Buffer.compare(fromChunk, fromReference)).toBe(0)
      expect(harnessOutput).toContain(`imatrix ${type} 0`)
      expect(ours.length).toBe(fromChunk.length)
      const firstDifference = ours.findIndex((byte, index) => byte !== fromChunk[index])
      expect(firstDifference, `first differing byte at ${firstDifference}`).toBe(-1)
    })
  }

  it('fp32 -> fp16 matches ggml_fp32_to_fp16_row on every rounding midpoint and special value', async () => {
    const expected = new Uint16Array(new Uint8Array(await readFile(join(workDirectory, 'fp16'))).buffer)
    const ours = fp32ArrayToFp16(halfInputs)
    const firstDifference = ours.findIndex((half, index) => half !== expected[index])
    expect(firstDifference, `first difference at input ${halfInputs[firstDifference]}`).toBe(-1)
    expect(ours.length).toBe(expected.length)
  })

  it('fp16 -> fp32 matches ggml_fp16_to_fp32_row for all 65536 bit patterns (NaN payloads included)', async () => {
    const expected = new Uint32Array(new Uint8Array(await readFile(join(workDirectory, 'fp32-from-fp16'))).buffer)
    const ours = new Uint32Array(fp16ArrayToFp32(Uint16Array.from({ length: 65536 }, (_, half) => half)).buffer)
    const firstDifference = ours.findIndex((bits, index) => bits !== expected[index])
    expect(firstDifference, `first difference at half 0x${firstDifference.toString(16)}`).toBe(-1)
  })

  /** Runs ggml's gguf parser on a file; returns its re-serialized header, or undefined if it refused. */
  function ggmlHeaderOf(path: string): { header: Buffer; report: string } | undefined {
    const metaPath = `${path}.ggml-meta`
    const run = spawnSync(join(workDirectory, 'harness'), ['gguf', path, metaPath], { encoding: 'utf8' })
    if (run.status === 4) return undefined
    if (run.status !== 0) throw new Error(`harness gguf failed (${run.status}): ${run.stderr}`)
    return { header: readFileSync(metaPath), report: run.stdout }
  }

  it('ggml parses our files and re-serializes exactly our header bytes (all value types, tiny model, quantized model)', async () => {
    const allTypes = join(workDirectory, 'all-types.gguf')
    await writeGgufFile(allTypes, {
      metadata: everyValueTypeMetadata({ includeNestedArrays: false }),
      tensors: sampleTensors(),
    })
    const tiny = join(workDirectory, 'tiny.gguf')
    await writeTinyLlamaGguf(tiny, { chatTemplate: CHATML_TEMPLATE })
    const quantized = join(workDirectory, 'tiny-q4_0.gguf')
    await quantizeGgufFile(tiny, quantized, { target: 'Q4_0' })
    const aligned = join(workDirectory, 'aligned.gguf')
    await writeGgufFile(aligned, { metadata: [['general.alignment', gguf.uint32(64)]], tensors: sampleTensors() })
    for (const path of [allTypes, tiny, quantized, aligned]) {
      const ours = await readGgufFile(path)
      const fromGgml = ggmlHeaderOf(path)
      expect(fromGgml, path).toBeDefined()
      const fileBytes = readFileSync(path)
      expect(fromGgml?.header.length, path).toBe(ours.dataStart)
      expect(fromGgml?.header.equals(fileBytes.subarray(0, ours.dataStart)), path).toBe(true)
      expect(fromGgml?.report).toContain(`data_offset ${ours.dataStart}\n`)
      for (const [index, tensor] of ours.tensors.entries())
        expect(fromGgml?.report).toContain(`tensor ${index} ${tensor.relativeOffset}\n`)
    }
  })

  it('ggml refuses nested arrays, as validateGguf reports', async () => {
    const nested = join(workDirectory, 'nested.gguf')
    await writeGgufFile(nested, {
      metadata: everyValueTypeMetadata({ includeNestedArrays: true }),
      tensors: sampleTensors(),
    })
    expect(validateGguf(await readGgufFile(nested)).map((problem) => problem.code)).toContain('NESTED_ARRAY')
    expect(ggmlHeaderOf(nested)).toBeUndefined()
  })

  it('ggml type table (block size and bytes) matches ggml_blck_size / ggml_type_size', () => {
    for (const traits of knownGgmlTypes()) {
      expect(harnessOutput).toContain(
        `type ${traits.id} ${traits.name.toLowerCase().replace('_k', '_K')} ${traits.blockSize} ${traits.blockBytes}\n`,
      )
    }
  })
})
