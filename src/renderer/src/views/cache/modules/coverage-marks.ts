/**
 * The coverage chart's threshold lines ("50% of requests need 3 entries"). Thresholds reached by the same number of
 * entries share one line and one label, and neighbouring labels alternate height, so markers never overlap.
 */
export const COVERAGE_THRESHOLDS = ['50', '80', '90', '95'] as const
export type CoverageThreshold = (typeof COVERAGE_THRESHOLDS)[number]

export const MARK_COLORS: Record<CoverageThreshold, string> = {
  '50': '#2080f0',
  '80': '#18a058',
  '90': '#f0a020',
  '95': '#d03050',
}

export interface CoverageMark {
  xAxis: number
  name: string
  lineStyle: { color: string }
  label: { formatter: string; color: string; position: 'end' | 'insideEndTop' | 'insideEndBottom' }
}

export function coverageMarks(entriesFor: Partial<Record<CoverageThreshold, number | null>>): CoverageMark[] {
  const groups = new Map<number, CoverageThreshold[]>()
  for (const key of COVERAGE_THRESHOLDS) {
    const entries = entriesFor[key]
    if (!entries) continue
    groups.set(entries, [...(groups.get(entries) ?? []), key])
  }
  const positions = ['end', 'insideEndTop', 'insideEndBottom'] as const
  return [...groups.entries()]
    .sort(([a], [b]) => a - b)
    .map(([entries, keys], index) => {
      const color = MARK_COLORS[keys[keys.length - 1]!]
      const name = keys.map((key) => `${key}%`).join(', ')
      return {
        xAxis: entries,
        name,
        lineStyle: { color },
        label: { formatter: `${name}: ${entries}`, color, position: positions[index % positions.length]! },
      }
    })
}
