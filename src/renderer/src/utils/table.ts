/**
 * Dense tables, as in TablePlus: small rows, a header that stays in view while the rows scroll (the table's own
 * max height) and columns the operator can widen or narrow by dragging their edge.
 */
import type { DataTableColumns, GlobalThemeOverrides } from 'naive-ui'

/** Theme override for every data table: TablePlus-like row height and padding, 13 px text. */
export const DENSE_TABLE: GlobalThemeOverrides['DataTable'] = {
  thPaddingSmall: '5px 8px',
  tdPaddingSmall: '4px 8px',
  thPaddingMedium: '6px 10px',
  tdPaddingMedium: '5px 10px',
  fontSizeSmall: '13px',
  fontSizeMedium: '13px',
}

/**
 * Every data column resizable (down to 60 px); selection and expand columns stay as they are. Columns with only a
 * minWidth keep taking the spare width until dragged.
 */
export function resizableColumns<T>(columns: DataTableColumns<T>): DataTableColumns<T> {
  return columns.map((column) => {
    if ('type' in column && (column.type === 'selection' || column.type === 'expand')) return column
    if ('children' in column) return column
    return { ...column, resizable: true, minWidth: column.minWidth ?? 60 }
  })
}

/**
 * The body's max height so that the table, its pagination and the page's `chrome` (header, tabs, toolbars above
 * it, in pixels) fit the window; never below `floor` pixels.
 */
export function tableMaxHeight(chrome: number, floor = 220): string {
  return `max(${floor}px, calc(100vh - ${chrome}px))`
}
