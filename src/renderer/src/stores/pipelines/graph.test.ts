import { describe, expect, it } from 'vitest'
import { validatePipeline } from '../../../../shared/pipeline-definition'
import {
  CONFIG_DEFAULTS,
  availableVariables,
  blankDefinition,
  checkConnection,
  copySelection,
  createNode,
  pasteClipboard,
  renameNode,
  targetFromKey,
  targetKey,
  uniqueEdgeId,
  uniqueId,
  type PipelineDefinition,
} from './graph'

function chain(): PipelineDefinition {
  const definition = blankDefinition('t')
  definition.nodes.push(
    { id: 'draft', type: 'llm', position: { x: 200, y: 0 }, config: { target: { provider: 1 }, prompt: '{{input}}' } },
    {
      id: 'judge',
      type: 'judge',
      position: { x: 400, y: 0 },
      config: { target: { provider: 1 }, rubric: 'Check {{draft}} against {{input}}' },
    },
    { id: 'fill', type: 'template-fill', position: { x: 600, y: 0 }, config: { family: 'f' } },
  )
  definition.edges.push(
    { id: 'e1', source: 'input', sourcePort: 'out', target: 'draft', targetPort: 'in' },
    { id: 'e2', source: 'draft', sourcePort: 'out', target: 'judge', targetPort: 'in' },
    { id: 'e3', source: 'judge', sourcePort: 'pass', target: 'output', targetPort: 'in' },
  )
  return definition
}

describe('pipeline editor graph edits', () => {
  it('gives new nodes free identifier ids and usable defaults', () => {
    expect(uniqueId('llm', [])).toBe('llm')
    expect(uniqueId('llm', ['llm', 'llm_2'])).toBe('llm_3')
    expect(uniqueId('draft_2', ['draft_2'])).toBe('draft_3')
    expect(uniqueId('9lives', [])).toBe('node_9lives')
    const node = createNode('reflect', { x: 10.4, y: 20.6 }, ['revise'], null)
    expect(node).toMatchObject({ id: 'revise_2', type: 'reflect', position: { x: 10, y: 21 } })
    expect(CONFIG_DEFAULTS.reflect).toMatchObject({ maxIterations: 3, threshold: 7, timeoutMs: 120_000 })
    expect(uniqueEdgeId(chain().edges)).toBe('e4')
  })

  it('refuses connections between incompatible port types, to itself, and twice', () => {
    const definition = chain()
    expect(
      checkConnection(definition, { source: 'judge', sourcePort: 'score', target: 'fill', targetPort: 'in' }),
    ).toMatchObject({ ok: false, reason: 'incompatible', from: 'number', to: 'json' })
    expect(
      checkConnection(definition, { source: 'draft', sourcePort: 'out', target: 'fill', targetPort: 'in' }).ok,
    ).toBe(true)
    expect(
      checkConnection(definition, { source: 'draft', sourcePort: 'out', target: 'draft', targetPort: 'in' }),
    ).toMatchObject({ ok: false, reason: 'self' })
    expect(
      checkConnection(definition, { source: 'input', sourcePort: 'out', target: 'draft', targetPort: 'in' }),
    ).toMatchObject({ ok: false, reason: 'duplicate' })
    expect(
      checkConnection(definition, { source: 'judge', sourcePort: 'nope', target: 'output', targetPort: 'in' }),
    ).toMatchObject({ ok: false, reason: 'unknown-port' })
  })

  it('renames a node together with its edges and the {{references}} to it', () => {
    const definition = chain()
    definition.nodes.find((node) => node.id === 'judge')!.config.rubric =
      'Check {{ draft }} and {{draft.out}}, not {{drafts}}'
    renameNode(definition, 'draft', 'writer')
    expect(definition.nodes.map((node) => node.id)).toContain('writer')
    expect(definition.edges.filter((edge) => edge.source === 'writer' || edge.target === 'writer')).toHaveLength(2)
    expect(definition.nodes.find((node) => node.id === 'judge')!.config.rubric).toBe(
      'Check {{ writer }} and {{writer.out}}, not {{drafts}}',
    )
    // Only the reference that never named the node is still a problem.
    const references = validatePipeline(definition).filter((problem) => problem.message.includes('{{'))
    expect(references.map((problem) => problem.message)).toEqual([
      'judge: the prompt references {{drafts}}, but there is no node "drafts".',
    ])
  })

  it('pastes a copy with new ids, its inner edges and references following', () => {
    const definition = chain()
    const clipboard = copySelection(definition, new Set(['draft', 'judge']))!
    expect(clipboard.edges.map((edge) => edge.id)).toEqual(['e2'])
    const pasted = pasteClipboard(definition, clipboard, { x: 40, y: 40 })
    expect(pasted).toEqual(['draft_2', 'judge_2'])
    const judge2 = definition.nodes.find((node) => node.id === 'judge_2')!
    expect(judge2.config.rubric).toBe('Check {{draft_2}} against {{input}}')
    expect(judge2.position).toEqual({ x: 440, y: 40 })
    expect(definition.edges.at(-1)).toMatchObject({ id: 'e4', source: 'draft_2', target: 'judge_2' })
    // The originals are untouched.
    expect(definition.nodes.find((node) => node.id === 'judge')!.config.rubric).toBe(
      'Check {{draft}} against {{input}}',
    )
    // A second paste gets other ids again.
    expect(pasteClipboard(definition, clipboard, { x: 80, y: 80 })).toEqual(['draft_3', 'judge_3'])
  })

  it('lists the variables a prompt may use: input, in and the upstream nodes with their ports', () => {
    const { builtIn, upstream } = availableVariables(chain(), 'judge')
    expect(builtIn).toEqual(['input', 'in'])
    expect(upstream).toEqual([
      { id: 'input', ports: ['out'] },
      { id: 'draft', ports: ['out'] },
    ])
    expect(availableVariables(chain(), 'draft').upstream.map((node) => node.id)).toEqual(['input'])
  })

  it('encodes model targets for the select', () => {
    expect(targetKey({ model: 3 })).toBe('model:3')
    expect(targetKey({ provider: 2 })).toBe('provider:2')
    expect(targetKey(null)).toBeNull()
    expect(targetFromKey('provider:2')).toEqual({ provider: 2 })
    expect(targetFromKey(null)).toBeNull()
  })
})
