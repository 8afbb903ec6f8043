/** Starter pipelines to create from. Model choices are left empty: the editor asks for them. */
import { PIPELINE_FORMAT, PIPELINE_FORMAT_VERSION, type PipelineDefinition } from '../../shared/pipeline-definition'

const base = (
  name: string,
  description: string,
  nodes: PipelineDefinition['nodes'],
  edges: [string, string, string?][],
): PipelineDefinition => ({
  format: PIPELINE_FORMAT,
  version: PIPELINE_FORMAT_VERSION,
  name,
  description,
  maxTokensPerRun: 50_000,
  nodes,
  edges: edges.map(([source, target, sourcePort], i) => ({
    id: `e${i + 1}`,
    source,
    target,
    sourcePort: sourcePort ?? 'out',
    targetPort: 'in',
  })),
})

export const STARTERS: { key: string; title: string; description: string; definition: PipelineDefinition }[] = [
  {
    key: 'draft-judge-revise',
    title: 'Draft → judge → revise',
    description: 'One model drafts; a reviewer scores it against a rubric and the draft is revised until it passes.',
    definition: base(
      'draft-judge-revise',
      'Draft, then critique and revise until the judge passes.',
      [
        { id: 'input', type: 'input', position: { x: 0, y: 120 }, config: {} },
        {
          id: 'draft',
          type: 'llm',
          position: { x: 260, y: 120 },
          config: {
            target: null,
            system: 'You are a helpful support agent.',
            prompt: 'Reply to the customer:\n{{input}}',
          },
        },
        {
          id: 'review',
          type: 'reflect',
          position: { x: 540, y: 120 },
          config: {
            target: null,
            rubric: 'The reply is polite, correct and answers the question.',
            threshold: 7,
            maxIterations: 3,
          },
        },
        { id: 'output', type: 'output', position: { x: 820, y: 120 }, config: {} },
      ],
      [
        ['input', 'draft'],
        ['draft', 'review'],
        ['review', 'output'],
      ],
    ),
  },
  {
    key: 'router-specialists',
    title: 'Router → specialists',
    description: 'A router sends each request to the specialist for its kind; the others never run.',
    definition: base(
      'router-specialists',
      'Route billing and technical questions to different small models.',
      [
        { id: 'input', type: 'input', position: { x: 0, y: 160 }, config: {} },
        {
          id: 'route',
          type: 'router',
          position: { x: 240, y: 160 },
          config: {
            mode: 'rules',
            routes: [
              { label: 'billing', match: 'regex', value: 'invoice|refund|payment|charge' },
              { label: 'technical', match: 'regex', value: 'error|crash|bug|install' },
            ],
          },
        },
        {
          id: 'billing',
          type: 'llm',
          position: { x: 520, y: 40 },
          config: { target: null, system: 'You answer billing questions.', prompt: '{{in}}' },
        },
        {
          id: 'technical',
          type: 'llm',
          position: { x: 520, y: 160 },
          config: { target: null, system: 'You answer technical questions.', prompt: '{{in}}' },
        },
        { id: 'general', type: 'llm', position: { x: 520, y: 280 }, config: { target: null, prompt: '{{in}}' } },
        { id: 'merge', type: 'merge', position: { x: 780, y: 160 }, config: { mode: 'first' } },
        { id: 'output', type: 'output', position: { x: 1000, y: 160 }, config: {} },
      ],
      [
        ['input', 'route'],
        ['route', 'billing', 'billing'],
        ['route', 'technical', 'technical'],
        ['route', 'general', 'default'],
        ['billing', 'merge'],
        ['technical', 'merge'],
        ['general', 'merge'],
        ['merge', 'output'],
      ],
    ),
  },
  {
    key: 'cache-generate-judge-store',
    title: 'Cache lookup → generate → judge → cache store',
    description: 'Answer from the cache when possible; otherwise generate, keep the answer only if a judge passes it.',
    definition: base(
      'cache-generate-judge-store',
      'Serve cached answers; generate, judge and store the rest.',
      [
        { id: 'input', type: 'input', position: { x: 0, y: 140 }, config: {} },
        {
          id: 'lookup',
          type: 'cache-lookup',
          position: { x: 220, y: 140 },
          config: { namespaceId: 1, model: 'pipeline' },
        },
        { id: 'generate', type: 'llm', position: { x: 460, y: 220 }, config: { target: null, prompt: '{{in}}' } },
        {
          id: 'judge',
          type: 'judge',
          position: { x: 700, y: 220 },
          config: { target: null, rubric: 'The answer is correct and complete.', threshold: 7 },
        },
        {
          id: 'store',
          type: 'cache-store',
          position: { x: 940, y: 220 },
          config: { namespaceId: 1, model: 'pipeline' },
        },
        { id: 'merge', type: 'merge', position: { x: 1160, y: 140 }, config: { mode: 'first' } },
        { id: 'output', type: 'output', position: { x: 1360, y: 140 }, config: {} },
      ],
      [
        ['input', 'lookup'],
        ['lookup', 'merge', 'hit'],
        ['lookup', 'generate', 'miss'],
        ['generate', 'judge'],
        ['judge', 'store', 'pass'],
        ['store', 'merge'],
        ['judge', 'merge', 'fail'],
        ['merge', 'output'],
      ],
    ),
  },
]
