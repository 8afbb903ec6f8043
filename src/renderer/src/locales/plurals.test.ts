import { describe, expect, it } from 'vitest'
import { createI18n } from 'vue-i18n'
import en from './en'

const i18n = createI18n({ legacy: false, locale: 'en', messages: { en } })
const t = i18n.global.t

describe('plural forms', () => {
  it('says "1 draft", never "1 drafts"', () => {
    expect(t('cacheExplained.approveDrafts.button', { count: 1 }, 1)).toBe('Approve 1 draft')
    expect(t('cacheExplained.approveDrafts.button', { count: 3 }, 3)).toBe('Approve 3 drafts')
    expect(t('cacheExplained.approveDrafts.done', { count: 1 }, 1)).toBe('Approved 1 draft.')
    expect(t('plan.budget.approve', { count: 1 }, 1)).toBe('Approve this draft')
    expect(t('plan.budget.approveConfirmTitle', { count: 2 }, 2)).toBe('Approve 2 drafts?')
    expect(t('plan.budget.approveDone', { count: 1 }, 1)).toBe('Approved 1 entry.')
  })
})
