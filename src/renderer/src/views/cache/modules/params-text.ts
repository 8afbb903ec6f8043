/** An entry's answer-changing parameters (part of its cache key), compact: "max_tokens 50 · temperature 0". */
export function paramsText(params: unknown): string {
  if (!params || typeof params !== 'object') return ''
  return Object.entries(params as Record<string, unknown>)
    .filter(([, value]) => value !== undefined && value !== null)
    .map(([key, value]) => `${key} ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`)
    .join(' · ')
}
