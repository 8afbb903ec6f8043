import { describe, expect, it } from 'vitest'
import type { DataTableColumns } from 'naive-ui'
import { resizableColumns, tableMaxHeight } from './table'

describe('resizableColumns', () => {
  it('makes data columns resizable, leaving the selection column alone', () => {
    const columns: DataTableColumns<{ id: number }> = [
      { type: 'selection' },
      { key: 'name', title: 'Name', minWidth: 200 },
      { key: 'size', title: 'Size', width: 90 },
    ]
    const result = resizableColumns(columns)
    expect(result[0]).toEqual({ type: 'selection' })
    expect(result[1]).toMatchObject({ key: 'name', resizable: true, minWidth: 200 })
    expect(result[1]).not.toHaveProperty('width')
    expect(result[2]).toMatchObject({ key: 'size', resizable: true, width: 90, minWidth: 60 })
  })
})

describe('tableMaxHeight', () => {
  it('fits the window below the page chrome with a floor', () => {
    expect(tableMaxHeight(300)).toBe('max(220px, calc(100vh - 300px))')
    expect(tableMaxHeight(300, 160)).toBe('max(160px, calc(100vh - 300px))')
  })
})
