import { describe, expect, it } from 'vitest'
import { coverageMarks } from './coverage-marks'

describe('coverageMarks', () => {
  it('draws one line per distinct entry count, thresholds on the same count share a label', () => {
    const marks = coverageMarks({ '50': 1, '80': 3, '90': 3, '95': 7 })
    expect(marks.map((mark) => mark.xAxis)).toEqual([1, 3, 7])
    expect(marks[1]!.label.formatter).toBe('80%, 90%: 3')
    expect(marks[0]!.label.formatter).toBe('50%: 1')
  })

  it('neighbouring labels sit at different heights', () => {
    const marks = coverageMarks({ '50': 2, '80': 3, '90': 4 })
    const positions = marks.map((mark) => mark.label.position)
    for (let i = 1; i < positions.length; i++) expect(positions[i]).not.toBe(positions[i - 1])
  })

  it('leaves out thresholds not reached', () => {
    expect(coverageMarks({ '50': 2, '80': null })).toHaveLength(1)
    expect(coverageMarks({})).toEqual([])
  })
})
