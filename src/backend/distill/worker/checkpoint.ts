/**
 * Checkpoints: the student's file with the trained tensors' current values, written by our own GGUF writer rather
 * than llama_model_save_to_file (which drops the chat template and general.name, records the training context as
 * the model's context length, and reports a failed write only in its log). Frozen tensors are copied from the file
 * the session started from; the header is kept, plus `larder.distill.*` provenance keys.
 *
 * Free space is checked first; a full disk (or ENOSPC while writing) is a `DiskFullError` that says how much was
 * needed, and the atomic writer leaves no partial file.
 */
import { statfsSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { dirname } from 'node:path'
import {
  gguf,
  readTensorRows,
  writeGgufFile,
  type GgufFile,
  type GgufTensorToWrite,
  type GgufValue,
} from '../../gguf/index'

export class DiskFullError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'DiskFullError'
  }
}

const MIB = 1024 * 1024

/** Free bytes where `path` lives. LARDER_TEST_DISK_FREE_BYTES stands in for a full disk in tests (none can be made here). */
export function freeBytes(path: string): number {
  const simulated = process.env.LARDER_TEST_DISK_FREE_BYTES
  if (simulated !== undefined) return Number(simulated)
  const stats = statfsSync(path)
  return Number(stats.bavail) * Number(stats.bsize)
}

export function checkpointBytes(file: GgufFile): number {
  return file.dataStart + file.tensors.reduce((sum, tensor) => sum + tensor.byteSize + file.alignment, 0)
}

async function* fileTensor(path: string, tensor: GgufFile['tensors'][number]): AsyncGenerator<Uint8Array> {
  const handle = await open(path, 'r')
  try {
    for await (const chunk of readTensorRows(handle, tensor)) yield chunk.bytes.slice()
  } finally {
    await handle.close()
  }
}

export interface CheckpointSource {
  /** The file the session loaded (frozen tensors are copied from it). */
  path: string
  file: GgufFile
  /** Current bytes of a trained tensor, read from llama.cpp; undefined for tensors that did not train. */
  trained(name: string): Uint8Array | undefined
}

export async function writeCheckpoint(
  source: CheckpointSource,
  destination: string,
  provenance: Record<string, string>,
): Promise<number> {
  const needed = checkpointBytes(source.file) + 4 * MIB
  const free = freeBytes(dirname(destination))
  if (free < needed) {
    throw new DiskFullError(
      `Not enough disk space for a checkpoint in ${dirname(destination)}: it needs ${Math.ceil(needed / MIB)} MiB and ${Math.floor(free / MIB)} MiB are free. Free some space, then start the job again: it resumes from the last checkpoint.`,
    )
  }
  const metadata: Array<[string, GgufValue]> = [...source.file.metadata].filter(
    ([key]) => !key.startsWith('larder.distill.') && key !== 'general.alignment',
  )
  for (const [key, value] of Object.entries(provenance)) metadata.push([`larder.distill.${key}`, gguf.string(value)])
  const tensors: GgufTensorToWrite[] = source.file.tensors.map((tensor) => {
    const trained = source.trained(tensor.name)
    if (trained && trained.byteLength !== tensor.byteSize) {
      throw new Error(
        `Tensor ${tensor.name}: llama.cpp holds ${trained.byteLength} bytes, the file ${tensor.byteSize}.`,
      )
    }
    return {
      name: tensor.name,
      dims: tensor.dims,
      type: tensor.type,
      data: trained ?? (() => fileTensor(source.path, tensor)),
    }
  })
  try {
    const result = await writeGgufFile(destination, { metadata, tensors })
    return result.fileSize
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOSPC') {
      throw new DiskFullError(
        `The disk filled up while writing a checkpoint to ${dirname(destination)} (it needs about ${Math.ceil(needed / MIB)} MiB). Free some space, then start the job again.`,
      )
    }
    throw error
  }
}
