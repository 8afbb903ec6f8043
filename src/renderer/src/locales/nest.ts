/** Flat "area.name" keys (src/shared/messages.ts) as the nested object in which vue-i18n resolves dotted paths. */
export function nestMessages(flat: Record<string, string>): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {}
  for (const [key, text] of Object.entries(flat)) {
    const dot = key.indexOf('.')
    const area = key.slice(0, dot)
    ;(out[area] ??= {})[key.slice(dot + 1)] = text
  }
  return out
}
