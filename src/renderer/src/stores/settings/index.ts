import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { Settings } from '../../../../shared/contract'
import { api } from '../../api'
import { initialLanguage, setLanguage, type Language } from '../../locales'

export type Theme = Settings['theme']

/** Theme and language: loaded with `settings.get`, saved with `settings.update`, applied to the whole console. */
export const useSettingsStore = defineStore('settings', () => {
  const theme = ref<Theme>('system')
  const language = ref<Language>(initialLanguage())
  const pricing = ref<Settings['pricing']>({ inputPer1kTokens: null, outputPer1kTokens: null, currency: 'USD' })
  const saving = ref(false)

  const colorScheme = window.matchMedia('(prefers-color-scheme: dark)')
  const systemPrefersDark = ref(colorScheme.matches)
  colorScheme.addEventListener('change', (event) => {
    systemPrefersDark.value = event.matches
  })

  /** What the console actually shows: 'system' resolved through prefers-color-scheme. */
  const resolvedTheme = computed<'light' | 'dark'>(() =>
    theme.value === 'system' ? (systemPrefersDark.value ? 'dark' : 'light') : theme.value,
  )

  function apply(settings: Settings): void {
    theme.value = settings.theme
    language.value = settings.language
    pricing.value = settings.pricing
    setLanguage(settings.language)
  }

  async function load(): Promise<void> {
    apply(await api.call('settings.get'))
  }

  /** Applies the change at once and saves it; on failure puts the previous value back and rethrows. */
  async function update(patch: Partial<Settings>): Promise<void> {
    const previous: Settings = { theme: theme.value, language: language.value, pricing: pricing.value }
    apply({ ...previous, ...patch })
    saving.value = true
    try {
      apply(await api.call('settings.update', patch))
    } catch (error) {
      apply(previous)
      throw error
    } finally {
      saving.value = false
    }
  }

  return {
    theme,
    language,
    pricing,
    saving,
    resolvedTheme,
    load,
    setTheme: (value: Theme) => update({ theme: value }),
    setLanguage: (value: Language) => update({ language: value }),
    setPricing: (value: Settings['pricing']) => update({ pricing: value }),
  }
})
