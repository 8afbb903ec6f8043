/** English text of the Jobs page's links to what each job made. `ko/job-links.ts` has the same keys. */
const jobLinks = {
  column: 'Made',
  model: 'Model {label}',
  trace: 'Run {label} trace',
  family: 'Family {label}',
  distillRun: 'Distillation run {label}',
  bundle: 'Bundle {label}',
  namespace: 'Namespace {label}',
  provider: 'Provider for {label}',
}

export default jobLinks
