import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { tempDir, waitUntil } from '../../../test/helpers'
import { Backend } from '../backend'
import { ApiError } from '../../shared/errors'
import { message } from '../../shared/messages'
import type { JobKind } from './runner'

/** A real job kind for exercising the runner: waits until released or aborted, reporting progress. */
function gateKind(name: string, resumable: boolean): JobKind<{ steps: number }> & { release(): void } {
  let release = (): void => {}
  const released = new Promise<void>((resolve) => (release = resolve))
  return {
    kind: name,
    params: z.object({ steps: z.int().min(1).default(1) }),
    resumable,
    title: () => `gate ${name}`,
    release: () => release(),
    async run(context) {
      context.progress(0.5, 'waiting at the gate')
      await Promise.race([
        released,
        new Promise((_, reject) => context.signal.addEventListener('abort', () => reject(context.signal.reason))),
      ])
      return { released: true }
    },
  }
}

function openBackend(home = tempDir(), concurrency = 2): Backend {
  return Backend.open({ home, runner: { concurrency, heartbeatMs: 50 }, validateOutput: true })
}

describe('JobRunner', () => {
  it('runs jobs to success with progress, logs and result', async () => {
    const backend = openBackend()
    const gate = gateKind('test.gate', false)
    backend.runner.register(gate)
    backend.start()
    const job = backend.runner.enqueue('test.gate', {})
    await waitUntil(() => backend.workspace.jobs.get(job.id)?.progress === 0.5, 5000, 'progress')
    gate.release()
    const done = await backend.runner.waitFor(job.id)
    expect(done.status).toBe('succeeded')
    expect(done.progress).toBe(1)
    expect(done.result).toEqual({ released: true })
    const logs = (await backend.call('jobs.logs', { id: job.id })) as { items: { message: string }[] }
    expect(logs.items.map((l) => l.message)).toEqual(['Started.', 'Finished.'])
    await backend.close()
  })

  it('never runs more jobs at once than its concurrency', async () => {
    const backend = openBackend(tempDir(), 2)
    const gate = gateKind('test.gate', false)
    backend.runner.register(gate)
    backend.start()
    const jobs = [1, 2, 3, 4].map(() => backend.runner.enqueue('test.gate', {}))
    await waitUntil(() => backend.runner.runningCount === 2, 5000, 'two running')
    await new Promise((resolve) => setTimeout(resolve, 150))
    const statuses = jobs.map((job) => backend.workspace.jobs.get(job.id)!.status)
    expect(statuses.filter((s) => s === 'running')).toHaveLength(2)
    expect(statuses.filter((s) => s === 'queued')).toHaveLength(2)
    gate.release()
    for (const job of jobs) expect((await backend.runner.waitFor(job.id)).status).toBe('succeeded')
    await backend.close()
  })

  it('cancels queued and running jobs, and refuses to cancel finished ones', async () => {
    const backend = openBackend(tempDir(), 1)
    const gate = gateKind('test.gate', false)
    backend.runner.register(gate)
    backend.start()
    const running = backend.runner.enqueue('test.gate', {})
    const queued = backend.runner.enqueue('test.gate', {})
    await waitUntil(() => backend.workspace.jobs.get(running.id)?.status === 'running')
    expect(((await backend.call('jobs.cancel', { id: queued.id })) as { status: string }).status).toBe('cancelled')
    await backend.call('jobs.cancel', { id: running.id })
    const cancelled = await backend.runner.waitFor(running.id)
    expect(cancelled.status).toBe('cancelled')
    expect(cancelled.error).toMatch(/Cancelled/)
    await expect(backend.call('jobs.cancel', { id: running.id })).rejects.toMatchObject({ code: 'conflict' })
    await expect(backend.call('jobs.cancel', { id: 9999 })).rejects.toMatchObject({ code: 'not_found' })
    await backend.close()
  })

  it('notices a cancel requested by another process sharing the workspace', async () => {
    const home = tempDir()
    const server = openBackend(home)
    const gate = gateKind('test.gate', false)
    server.runner.register(gate)
    server.start()
    const job = server.runner.enqueue('test.gate', {})
    await waitUntil(() => server.workspace.jobs.get(job.id)?.status === 'running')
    // A second backend on the same files, as `larder jobs cancel` would open it.
    const cli = Backend.open({ home })
    cli.runner.register(gateKind('test.gate', false))
    await cli.call('jobs.cancel', { id: job.id })
    await cli.close()
    expect((await server.runner.waitFor(job.id)).status).toBe('cancelled')
    await server.close()
  })

  it('records the error of a failing job', async () => {
    const backend = openBackend()
    backend.runner.register({
      kind: 'test.fail',
      params: z.object({}),
      resumable: false,
      title: () => 'fails',
      run: async () => {
        throw new Error('disk full: wrote 0 of 10 bytes')
      },
    })
    backend.start()
    const job = backend.runner.enqueue('test.fail', {})
    const done = await backend.runner.waitFor(job.id)
    expect(done.status).toBe('failed')
    expect(done.error).toBe('disk full: wrote 0 of 10 bytes')
    await backend.close()
  })

  it('stores message keys and parameters beside the English of titles, logs, progress and keyed errors', async () => {
    const backend = openBackend()
    backend.runner.register({
      kind: 'test.keyed',
      params: z.object({ model: z.string() }),
      resumable: false,
      title: (params) => message('job.quantize', { model: params.model, type: 'Q8_0' }),
      run: async (context) => {
        context.progress(0.5, message('job.hash', { model: context.params.model }))
        context.log('info', message('jobLog.willResume', { attempt: 2 }))
        throw ApiError.of('conflict', message('error.modelNotLoaded', { model: context.params.model }))
      },
    })
    backend.start()
    const job = backend.runner.enqueue('test.keyed', { model: 'tiny-f32' })
    expect(job.title).toBe('Quantize model tiny-f32 to Q8_0')
    expect(job.titleRef).toEqual({ key: 'job.quantize', params: { model: 'tiny-f32', type: 'Q8_0' } })
    const done = await backend.runner.waitFor(job.id)
    expect(done.status).toBe('failed')
    expect(done.error).toBe('tiny-f32 is not loaded. Load it first (Models page or models.load).')
    expect(done.errorRef).toEqual({ key: 'error.modelNotLoaded', params: { model: 'tiny-f32' } })
    expect(done.progressRef).toEqual({ key: 'job.hash', params: { model: 'tiny-f32' } })
    // Through the contract (output validated), as the console receives them.
    const listed = (await backend.call('jobs.get', { id: job.id })) as { titleRef: unknown }
    expect(listed.titleRef).toEqual(job.titleRef)
    const logs = (await backend.call('jobs.logs', { id: job.id })) as {
      items: { message: string; messageRef: { key: string } | null }[]
    }
    expect(logs.items.map((l) => l.messageRef?.key)).toEqual([
      'jobLog.started',
      'jobLog.willResume',
      'error.modelNotLoaded',
    ])
    expect(logs.items[1]!.message).toBe(
      'The process running this job stopped unexpectedly; it will resume (attempt 2).',
    )
    // A plain string title (free text) has no key; the console shows the English.
    backend.runner.register(gateKind('test.gate', false))
    expect(backend.runner.enqueue('test.gate', {}).titleRef).toBeNull()
    await backend.close()
  })

  it('API errors carry their message key and parameters across the transport', async () => {
    const backend = openBackend()
    const error = await backend.call('jobs.get', { id: 424242 }).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(ApiError)
    expect((error as ApiError).toJSON()).toMatchObject({
      code: 'not_found',
      message: 'Job 424242 does not exist.',
      messageKey: 'error.jobNotFound',
      params: { id: 424242 },
    })
    const invalid = (await backend.call('jobs.get', { id: 'x' }).catch((caught: unknown) => caught)) as ApiError
    expect(invalid.toJSON()).toMatchObject({ code: 'invalid_input', messageKey: 'error.invalidInputAt' })
    expect(invalid.params).toMatchObject({ field: 'id' })
    await backend.close()
  })

  it('validates job parameters against the kind schema', async () => {
    const backend = openBackend()
    backend.runner.register(gateKind('test.gate', false))
    expect(() => backend.runner.enqueue('test.gate', { steps: 0 })).toThrowError(/Invalid parameters for test.gate/)
    expect(() => backend.runner.enqueue('no.such.kind', {})).toThrowError(/Unknown job kind/)
    await backend.close()
  })

  it('on shutdown requeues resumable jobs and fails the others with the reason', async () => {
    const home = tempDir()
    const backend = openBackend(home)
    backend.runner.register(gateKind('test.resumable', true))
    backend.runner.register(gateKind('test.oneshot', false))
    backend.start()
    const resumable = backend.runner.enqueue('test.resumable', {})
    const oneshot = backend.runner.enqueue('test.oneshot', {})
    await waitUntil(() => backend.runner.runningCount === 2)
    await backend.close()

    const reopened = openBackend(home)
    const gate = gateKind('test.resumable', true)
    reopened.runner.register(gate)
    reopened.runner.register(gateKind('test.oneshot', false))
    expect(reopened.workspace.jobs.get(oneshot.id)).toMatchObject({ status: 'failed' })
    expect(reopened.workspace.jobs.get(oneshot.id)!.error).toMatch(/shut down; this kind of job cannot resume/)
    expect(reopened.workspace.jobs.get(resumable.id)).toMatchObject({ status: 'queued' })
    reopened.start()
    gate.release()
    const resumed = await reopened.runner.waitFor(resumable.id)
    expect(resumed).toMatchObject({ status: 'succeeded', attempts: 2 })
    await reopened.close()
  })
})
