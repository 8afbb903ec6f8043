import { createI18n } from 'vue-i18n'
import { createLocale, dateEnUS, dateKoKR, enUS, koKR, type NDateLocale, type NLocale } from 'naive-ui'
import type { Settings } from '../../../shared/contract'
import en, { type MessageSchema } from './en'
import ko from './ko'

export type Language = Settings['language']

/** Before the saved setting has loaded (or when the page is refused), follow the browser's language. */
export function initialLanguage(): Language {
  return navigator.language.toLowerCase().startsWith('ko') ? 'ko' : 'en'
}

// Composition mode. Messages are plain strings compiled by vue-i18n's JIT compiler (an AST interpreter), so nothing
// is evaluated at run time and the strict CSP (no 'unsafe-eval') holds.
export const i18n = createI18n<[MessageSchema], Language, false>({
  legacy: false,
  locale: initialLanguage(),
  fallbackLocale: 'en',
  messages: { en, ko },
  missingWarn: import.meta.env.DEV,
  fallbackWarn: import.meta.env.DEV,
})

export function setLanguage(language: Language): void {
  i18n.global.locale.value = language
  document.documentElement.lang = language
}

/** Naive UI's own text (pagination, pickers, empty states) and date formats, per language. */
// An empty field shows no "Please Input": a field whose example helps sets its own placeholder.
const blankFields = { Input: { placeholder: '' }, InputNumber: { placeholder: '' } }
export const naiveLocales: Record<Language, { locale: NLocale; dateLocale: NDateLocale }> = {
  en: { locale: createLocale({ ...blankFields, Select: { placeholder: 'Choose…' } }, enUS), dateLocale: dateEnUS },
  ko: { locale: createLocale(blankFields, koKR), dateLocale: dateKoKR },
}
