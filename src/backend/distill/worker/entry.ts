/**
 * The trainer worker process (forked by BuiltinTrainer; built as out/main/trainer-worker.js). It runs one training
 * request and exits. llama.cpp's own log goes to stderr, which the parent keeps the tail of for error reports.
 */
import { LibrariesUnavailableError } from '../native/bins'
import { LayoutMismatchError } from '../native/llama'
import { StudentError } from '../student'
import { DiskFullError } from './checkpoint'
import type { ParentToWorker, WorkerToParent } from './protocol'
import { StopRequested, TrainingFailure, TrainingSession } from './session'

let stop = false

function send(message: WorkerToParent): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve()
    process.send(message, undefined, undefined, () => resolve())
  })
}

function failureOf(error: unknown): WorkerToParent {
  if (error instanceof TrainingFailure) {
    return {
      type: 'failed',
      code: error.code,
      message: error.message,
      ...(error.step !== undefined ? { step: error.step } : {}),
    }
  }
  if (error instanceof DiskFullError) return { type: 'failed', code: 'disk_full', message: error.message }
  if (error instanceof LibrariesUnavailableError || error instanceof LayoutMismatchError) {
    return { type: 'failed', code: 'unavailable', message: error.message }
  }
  if (error instanceof StudentError) return { type: 'failed', code: 'student', message: error.message }
  return { type: 'failed', code: 'native', message: error instanceof Error ? error.message : String(error) }
}

async function train(message: Extract<ParentToWorker, { type: 'train' }>): Promise<void> {
  const session = new TrainingSession(message.request, {
    send: (update) => void send(update),
    stopRequested: () => stop,
  })
  let reply: WorkerToParent
  try {
    reply = { type: 'done', outcome: await session.run() }
  } catch (error) {
    reply = error instanceof StopRequested ? { type: 'stopped' } : failureOf(error)
  }
  session.close()
  await send(reply)
  process.exit(0)
}

process.on('message', (message: ParentToWorker) => {
  if (message.type === 'stop') stop = true
  else if (message.type === 'train') void train(message)
})
process.on('disconnect', () => process.exit(0))
void send({ type: 'ready', pid: process.pid })
