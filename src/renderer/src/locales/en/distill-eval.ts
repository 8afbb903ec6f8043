/** English text of the Distillation page's Evaluations and Promotions tabs. `ko/distill-eval.ts` has the same keys. */
const distillEval = {
  tabs: { runs: 'Training runs', evaluations: 'Evaluations', promotions: 'Promotions' },
  teacher: 'Teacher',
  metric: {
    kl: 'KL (answer positions)',
    top1: 'Top-1 agreement',
    nll: 'NLL of teacher answers',
    task: 'Task score',
    winRate: 'Judge win-rate',
  },
  col: {
    model: 'Model',
    speed: 'tok/s',
    size: 'Size',
    memory: 'Peak RSS',
    memoryHint:
      'Peak RSS of a model worker of its own that loaded only this model and generated its answers (includes the Node.js runtime; hover a value for the baseline).',
    cost: 'Cost / 1k answers',
    gate: 'Gate',
  },
  gate: { passed: 'Passed', failed: 'Failed' },
  report: {
    title: 'Evaluation report',
    empty:
      'No evaluations yet. Start one with “New evaluation…” above, or larder distill eval --dataset NAME --student MODEL --teacher MODEL.',
    pending: 'The evaluation is {status}.',
    summary: '{examples} examples · task metric {metric} · teacher top-{k} with a tail bucket',
    summaryNoTokens: '{examples} examples · task metric {metric} · no token metrics (see why beside)',
    agreement: 'Agreement with the teacher (higher is better)',
    divergence: 'Divergence from the teacher (lower is better)',
    curves: 'Training curves',
    examples: 'Examples side by side (differences from the teacher’s answer marked)',
    reference: 'Teacher answer',
    line: 'Line {line}',
  },
  promotions: {
    title: 'Promotions',
    description:
      'A promotion switches a cache namespace’s misses, a pipeline’s model node or a template family’s generation to the student. It is refused when the report’s gate failed unless an override reason is given. Rollback restores the previous target.',
    empty:
      'No promotions yet. Promote above, or with larder distill promote --namespace NAME --model STUDENT --evaluation ID.',
    target: 'Target',
    model: 'Student',
    gate: 'Gate',
    who: 'Who, when',
    state: 'State',
    passed: 'Passed (report {id})',
    override: 'Override',
    inForce: 'In force',
    rolledBack: 'Rolled back by {who}, {when}',
    rollback: 'Roll back',
    rollbackConfirm: 'Restore the previous target of {target}?',
    provider: 'provider {name}',
    rollbackYes: 'Roll back',
    rollbackNo: 'Keep',
  },
}

export default distillEval
