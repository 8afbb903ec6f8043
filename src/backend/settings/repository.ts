/** Operator preferences (theme, language) as JSON values in the settings table. */
import { settingsSchema, type Settings } from '../../shared/contract'
import type { Db } from '../db/database'

export const DEFAULT_SETTINGS: Settings = {
  theme: 'system',
  language: 'en',
  pricing: { inputPer1kTokens: null, outputPer1kTokens: null, currency: 'USD' },
}

/** The estimated cost of a request with these token counts, or null when no prices are set. */
export function estimateCost(settings: Settings, tokensIn: number | null, tokensOut: number | null): number | null {
  const { inputPer1kTokens, outputPer1kTokens } = settings.pricing
  if (inputPer1kTokens === null && outputPer1kTokens === null) return null
  return ((tokensIn ?? 0) * (inputPer1kTokens ?? 0) + (tokensOut ?? 0) * (outputPer1kTokens ?? 0)) / 1000
}

export class SettingsRepository {
  private readonly statements

  constructor(db: Db) {
    this.statements = {
      all: db.prepare('SELECT key, value FROM settings'),
      upsert: db.prepare(
        `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
      ),
    }
  }

  get(): Settings {
    const stored: Record<string, unknown> = {}
    for (const row of this.statements.all.all() as { key: string; value: string }[]) {
      stored[row.key] = JSON.parse(row.value) as unknown
    }
    // Unknown or invalid stored values fall back to defaults instead of breaking the console.
    const merged = { ...DEFAULT_SETTINGS }
    for (const key of Object.keys(DEFAULT_SETTINGS) as (keyof Settings)[]) {
      const candidate = settingsSchema.shape[key].safeParse(stored[key])
      if (candidate.success) (merged as Record<string, unknown>)[key] = candidate.data
    }
    return merged
  }

  update(patch: Partial<Settings>): Settings {
    const at = new Date().toISOString()
    for (const [key, value] of Object.entries(patch)) {
      if (value !== undefined) this.statements.upsert.run(key, JSON.stringify(value), at)
    }
    return this.get()
  }
}
