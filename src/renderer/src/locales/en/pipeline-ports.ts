/** Display names of the built-in pipeline ports (the port's own name stays the id used in {{node.port}}). */
export default {
  in: 'in',
  out: 'out',
  pass: 'pass',
  fail: 'fail',
  score: 'score',
  reason: 'reason',
  default: 'default',
  hit: 'hit',
  miss: 'miss',
}
