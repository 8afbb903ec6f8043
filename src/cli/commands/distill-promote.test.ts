// `larder distill promote` to a pipeline node and a template family, with a model or a provider as the student, in
// process against a real workspace (models registered from real tiny GGUF files; nothing is loaded, promotion only
// switches targets): the history names each target, rollback restores it, and a wrong combination of options exits
// with the usage-style code and says which options go together.
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { PipelineDefinition } from '../../shared/pipeline-definition'
import { tempDir } from '../../../test/helpers'
import { Backend } from '../../backend/backend'
import { writeTinyLlamaGguf } from '../../backend/gguf/index'
import { EXIT } from '../exit-codes'
import { runCli } from '../main'

async function larder(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const code = await runCli(args, { out: (t) => (out += t), err: (t) => (err += t), stdinIsTTY: false })
  return { code, out, err }
}

const pipeline = (model: number): PipelineDefinition =>
  ({
    format: 'larder.pipeline',
    version: 1,
    name: 'reply',
    nodes: [
      { id: 'input', type: 'input', config: {} },
      { id: 'draft', type: 'llm', config: { target: { model }, prompt: 'Reply: {{input}}' } },
      { id: 'output', type: 'output', config: {} },
    ],
    edges: [
      { id: 'e1', source: 'input', target: 'draft' },
      { id: 'e2', source: 'draft', target: 'output' },
    ],
  }) as unknown as PipelineDefinition

async function workspace(): Promise<string> {
  const dir = tempDir()
  const home = join(dir, 'home')
  const backend = Backend.open({ home, models: { cpuOnly: true } })
  try {
    const ids: Record<string, number> = {}
    for (const [name, seed] of [
      ['base', 1],
      ['student', 2],
    ] as const) {
      const path = join(dir, `${name}.gguf`)
      await writeTinyLlamaGguf(path, { seed })
      ids[name] = ((await backend.call('models.register', { path, name })) as { id: number }).id
    }
    await backend.call('providers.save', { name: 'remote-ft', baseUrl: 'http://127.0.0.1:9/v1', model: 'ft:x' })
    await backend.call('pipelines.save', { definition: pipeline(ids.base!) })
    await backend.call('templates.import', {
      text: JSON.stringify({
        name: 'shipped',
        prompt: 'Say it shipped.',
        slots: [{ name: 'name', type: 'text', required: true }],
        generation: { target: { model: 'base' } },
      }),
    })
  } finally {
    await backend.close()
  }
  return home
}

describe('larder distill promote (pipeline node, family, provider)', () => {
  it('promotes to a pipeline node and a family, lists both, rolls back, and refuses wrong option sets', async () => {
    const home = await workspace()
    const run = (...args: string[]) => larder(['--home', home, 'distill', ...args])
    const node = await run(
      'promote',
      '--pipeline',
      'reply',
      '--node',
      'draft',
      '--model',
      'student',
      '--override',
      'canary',
    )
    expect(node).toMatchObject({ code: EXIT.ok })
    expect(node.out).toMatch(/^ {3}1 {2}pipeline reply node draft -> student {2}\(override: canary; report -;/)
    const family = await run('promote', '--family', 'shipped', '--provider', 'remote-ft', '--override', 'remote ft')
    expect(family.out).toMatch(/^ {3}2 {2}family shipped -> provider remote-ft {2}\(override: remote ft;/)
    const refused = await run(
      'promote',
      '--pipeline',
      'reply',
      '--node',
      'output',
      '--model',
      'student',
      '--override',
      'x y z',
    )
    expect(refused.code).toBe(EXIT.usage)
    expect(refused.err).toMatch(/Node "output" of pipeline reply \(type output\) calls no model/)

    const history = await run('promotions')
    expect(history.out.split('\n').filter(Boolean)).toHaveLength(2)
    expect(history.out).toMatch(/family shipped -> provider remote-ft .*in force/)
    expect((await run('rollback', '1', '--actor', 'bob')).out).toMatch(
      /pipeline reply node draft -> student .*by bob\)/,
    )

    const backend = Backend.open({ home, models: { cpuOnly: true } })
    try {
      const { definition } = (await backend.call('pipelines.get', { id: 1 })) as { definition: PipelineDefinition }
      expect(definition.nodes.find((n) => n.id === 'draft')!.config.target).toEqual({ model: 1, name: 'base' })
    } finally {
      await backend.close()
    }

    for (const [args, message] of [
      [['--namespace', 'a', '--family', 'shipped', '--model', 'student'], /exactly one target/],
      [['--pipeline', 'reply', '--model', 'student'], /--pipeline and --node go together/],
      [['--family', 'shipped', '--model', 'student', '--provider', 'remote-ft'], /exactly one of --model/],
      [['--family', 'shipped'], /exactly one of --model/],
    ] as const) {
      const result = await run('promote', ...args)
      expect(result.code, args.join(' ')).toBe(EXIT.usage)
      expect(result.err).toMatch(message)
    }
    const missing = await run('promote', '--pipeline', 'nope', '--node', 'draft', '--model', 'student')
    expect(missing).toMatchObject({ code: EXIT.notFound, err: expect.stringMatching(/No pipeline named "nope"/) })
  })
})
