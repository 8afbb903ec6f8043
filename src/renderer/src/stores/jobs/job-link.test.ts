import { describe, expect, it } from 'vitest'
import { jobLink } from './job-link'

describe('jobLink', () => {
  it('links a pipeline run to its trace, and to the pipeline while it has no run yet', () => {
    expect(
      jobLink({ kind: 'pipelines.run', params: { id: 3, input: 'x' }, result: { runId: 12 }, status: 'succeeded' }),
    ).toEqual({ kind: 'trace', to: { name: 'pipelines', query: { id: '3', run: '12' } }, label: '#12' })
    expect(jobLink({ kind: 'pipelines.run', params: { id: 3 }, result: null, status: 'running' })?.to.query).toEqual({
      id: '3',
    })
  })

  it('links quantization and distillation results to the model they made', () => {
    const quantized = jobLink({
      kind: 'gguf.quantize',
      params: { id: 1, type: 'Q8_0' },
      result: { modelId: 7, name: 'tiny-Q8_0' },
      status: 'succeeded',
    })
    expect(quantized).toEqual({ kind: 'model', to: { name: 'models', query: { model: '7' } }, label: 'tiny-Q8_0' })
    expect(jobLink({ kind: 'distill.train', params: { runId: 4 }, result: null, status: 'failed' })?.to).toEqual({
      name: 'distillation',
      query: { run: '4' },
    })
  })

  it('links a run trained through a fine-tuning API to the provider it registered', () => {
    const result = { remote: { providerId: 7, model: 'ft:base:x:1', jobId: 'ftjob-1', baseModel: 'base' } }
    expect(jobLink({ kind: 'distill.train', params: { runId: 4 }, result, status: 'succeeded' })).toEqual({
      kind: 'provider',
      to: { name: 'models', query: { provider: '7' } },
      label: 'ft:base:x:1',
    })
    expect(jobLink({ kind: 'distill.train', params: { runId: 4 }, result, status: 'failed' })?.kind).toBe('distillRun')
  })

  it('links template generation to its family, a CDN export to its bundle, cache jobs to their namespace', () => {
    expect(
      jobLink({ kind: 'templates.generate', params: { familyId: 2 }, result: {}, status: 'succeeded' })?.to,
    ).toEqual({ name: 'templates', query: { family: '2' } })
    expect(
      jobLink({ kind: 'export.cdn', params: {}, result: { version: '2026-12-02.1' }, status: 'succeeded' })?.label,
    ).toBe('2026-12-02.1')
    expect(jobLink({ kind: 'export.cdn', params: {}, result: null, status: 'failed' })).toBeNull()
    expect(jobLink({ kind: 'cache.prewarm', params: { namespaceId: 5 }, result: {}, status: 'succeeded' })?.kind).toBe(
      'namespace',
    )
  })

  it('has no link for jobs that made nothing to open', () => {
    expect(jobLink({ kind: 'workspace.backup', params: {}, result: { path: '/x' }, status: 'succeeded' })).toBeNull()
  })

  it('labels a link with the name the job title used, and the id when the title has none', () => {
    const family = { kind: 'templates.generate', params: { familyId: 4 }, result: null, status: 'succeeded' } as const
    expect(jobLink(family)?.label).toBe('#4')
    const titled = {
      ...family,
      titleRef: { key: 'job.generateVariants', params: { family: 'order-shipped', target: 'm' } },
    }
    expect(jobLink(titled)?.label).toBe('order-shipped')
    const namespace = {
      kind: 'cache.prewarm',
      params: { namespaceId: 2 },
      result: null,
      status: 'succeeded',
      titleRef: { key: 'job.prewarmTop', params: { count: 5, namespace: 'default/support' } },
    } as const
    expect(jobLink(namespace)?.label).toBe('default/support')
  })
})
