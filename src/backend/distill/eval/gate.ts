/** The gate: a student passes when every threshold the job set holds; each failure says which and by how much. */
import type { Contestant, Gate } from '../../../shared/contract'

const pct = (value: number): string => `${(value * 100).toFixed(1)}%`

export function gateVerdict(student: Contestant, gate: Gate): { key: string; passed: boolean; reasons: string[] } {
  const reasons: string[] = []
  const tokens = student.tokenMetrics
  const needTokens = gate.maxKl !== undefined || gate.minTop1 !== undefined
  if (needTokens && !tokens) {
    reasons.push(
      `Token metrics are missing (${student.tokenMetricsSkipped ?? 'not computed'}), so the KL/top-1 thresholds cannot pass.`,
    )
  }
  if (tokens && gate.maxKl !== undefined && tokens.meanKl > gate.maxKl) {
    reasons.push(`Mean KL ${tokens.meanKl.toFixed(4)} is above the gate's ${gate.maxKl}.`)
  }
  if (tokens && gate.minTop1 !== undefined && tokens.top1Agreement < gate.minTop1) {
    reasons.push(`Top-1 agreement ${pct(tokens.top1Agreement)} is below the gate's ${pct(gate.minTop1)}.`)
  }
  if (gate.minTask !== undefined) {
    const score = student.task?.score
    if (score === undefined) reasons.push('No task score was measured.')
    else if (score < gate.minTask) reasons.push(`Task score ${pct(score)} is below the gate's ${pct(gate.minTask)}.`)
  }
  if (gate.minWinRate !== undefined) {
    if (student.winRate === null) reasons.push('No judge win-rate was measured (the job has no judge).')
    else if (student.winRate < gate.minWinRate) {
      reasons.push(`Judge win-rate ${pct(student.winRate)} is below the gate's ${pct(gate.minWinRate)}.`)
    }
  }
  return { key: student.key, passed: reasons.length === 0, reasons }
}
