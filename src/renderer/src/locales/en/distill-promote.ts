/** The promote form of the Distillation page's Promotions tab. */
const distillPromote = {
  title: 'Promote a student',
  description:
    'Switch a cache namespace’s misses, one model node of a pipeline, or a template family’s generation to a student. Without a passing gate verdict in the chosen report, an override reason is needed; it is recorded.',
  targetKind: 'Target',
  kinds: { namespace: 'Cache namespace', pipeline: 'Pipeline node', family: 'Template family' },
  namespace: 'Namespace',
  pipeline: 'Pipeline',
  node: 'Model node',
  noModelNodes: 'This pipeline has no node that calls a model.',
  family: 'Family',
  studentKind: 'Student',
  studentKinds: { model: 'Registered model', provider: 'Provider (e.g. a remote fine-tune)' },
  model: 'Model',
  provider: 'Provider',
  evaluation: 'Report (optional)',
  evaluationOption: 'Report {id} · {name}',
  override: 'Override reason',
  overrideHint: 'Needed when the report’s gate did not pass for this student, or without a report.',
  choose: 'Choose…',
  fromReport: 'Promote…',
  submit: 'Promote',
  done: 'Promoted: {target} now uses {student}.',
}

export default distillPromote
