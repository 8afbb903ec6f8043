/** Locale-aware formatting of the values the console shows. Pure functions: the caller passes the locale. */

const BYTE_UNITS = ['byte', 'kilobyte', 'megabyte', 'gigabyte', 'terabyte'] as const

/** 1 536 000 -> "1.5 MB", 0 -> "0 B" (decimal units, as the unit names say; "B" as "kB" is written, never "0 byte"). */
export function formatBytes(bytes: number, locale: string): string {
  let value = bytes
  let unit = 0
  while (value >= 1000 && unit < BYTE_UNITS.length - 1) {
    value /= 1000
    unit += 1
  }
  const parts = new Intl.NumberFormat(locale, {
    style: 'unit',
    unit: BYTE_UNITS[Math.max(1, unit)],
    unitDisplay: 'short',
    maximumFractionDigits: unit === 0 ? 0 : 1,
  }).formatToParts(value)
  // Intl's short form for plain bytes is "byte" in every count; take the kilobyte layout and write "B" in it.
  return parts.map((part) => (unit === 0 && part.type === 'unit' ? 'B' : part.value)).join('')
}

/** `short` fits table cells ("11/27/26, 11:06:53 PM"); `medium` spells the month out. */
export function formatDateTime(
  iso: string | null | undefined,
  locale: string,
  style: 'short' | 'medium' = 'medium',
): string {
  if (!iso) return ''
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return iso
  return new Intl.DateTimeFormat(locale, { dateStyle: style, timeStyle: 'medium' }).format(date)
}

/** Milliseconds as "1 h 2 min", "3 min 4 s", "5.2 s" in the given locale. */
export function formatDuration(ms: number, locale: string): string {
  const unit = (value: number, name: 'hour' | 'minute' | 'second', fraction = 0): string =>
    new Intl.NumberFormat(locale, {
      style: 'unit',
      unit: name,
      unitDisplay: 'narrow',
      maximumFractionDigits: fraction,
    }).format(value)
  const safe = Math.max(0, ms)
  if (safe < 60_000) return unit(safe / 1000, 'second', safe < 10_000 ? 1 : 0)
  const totalSeconds = Math.floor(safe / 1000)
  const hours = Math.floor(totalSeconds / 3600)
  const minutes = Math.floor((totalSeconds % 3600) / 60)
  const seconds = totalSeconds % 60
  if (hours > 0) return `${unit(hours, 'hour')} ${unit(minutes, 'minute')}`
  return `${unit(minutes, 'minute')} ${unit(seconds, 'second')}`
}

/** 0..1 (or null when unknown) as a whole percentage 0..100. */
export function toPercent(progress: number | null | undefined): number {
  if (progress === null || progress === undefined || Number.isNaN(progress)) return 0
  return Math.round(Math.min(1, Math.max(0, progress)) * 100)
}

/** 1 234 567 -> "1.2M" (or the locale's compact form: "123만"). */
export function formatCompact(value: number, locale: string): string {
  return new Intl.NumberFormat(locale, { notation: 'compact', maximumFractionDigits: 1 }).format(value)
}

/** A number with at most `digits` fraction digits, in the locale's style. */
export function formatNumber(value: number, locale: string, digits = 0): string {
  return new Intl.NumberFormat(locale, { maximumFractionDigits: digits }).format(value)
}

/** 0..1 as "93.5 %" in the locale's style. */
export function formatShare(share: number, locale: string, digits = 1): string {
  return new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: digits }).format(share)
}

/** Small measurements (0.000021) with a few significant digits rather than a fixed number of decimals. */
export function formatSignificant(value: number, locale: string, digits = 3): string {
  return new Intl.NumberFormat(locale, { maximumSignificantDigits: digits }).format(value)
}

/** An amount in the given currency ("$1.23", "₩1,230"); a code Intl does not know is written after the number. */
export function formatMoney(value: number, currency: string, locale: string): string {
  try {
    return new Intl.NumberFormat(locale, {
      style: 'currency',
      currency,
      maximumFractionDigits: value !== 0 && Math.abs(value) < 1 ? 4 : 2,
    }).format(value)
  } catch {
    return `${new Intl.NumberFormat(locale, { maximumFractionDigits: 4 }).format(value)} ${currency}`
  }
}
