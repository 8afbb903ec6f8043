/** The file types grouped by size and quality, as options that show what each gives for one model. */
import type { SelectGroupOption, SelectOption } from 'naive-ui'
import type { QuantizationType, QuantizationPlan } from '../../../../../shared/contract'
import { formatBytes } from '../../../utils/format'

export const TYPE_GROUPS: ReadonlyArray<{ key: string; types: readonly QuantizationType[] }> = [
  { key: 'nearLossless', types: ['Q8_0', 'Q6_K'] },
  { key: 'balanced', types: ['Q5_K_M', 'Q5_K_S', 'Q5_1', 'Q5_0'] },
  { key: 'compact', types: ['Q4_K_M', 'Q4_K_S', 'Q4_1', 'Q4_0'] },
  { key: 'smallest', types: ['Q3_K_L', 'Q3_K_M', 'Q3_K_S', 'Q2_K', 'Q2_K_S'] },
  { key: 'unquantized', types: ['F16'] },
]

/** The types a comparison starts with: the choice people weigh on model cards. */
export const DEFAULT_COMPARISON: QuantizationType[] = ['Q8_0', 'Q6_K', 'Q5_K_M', 'Q4_K_M', 'Q3_K_M']

type Translate = (key: string, values?: Record<string, unknown>) => string

/** Label and availability of one type, from the model's plan (sizes appear once the plan has loaded). */
export function typeOption(
  type: QuantizationType,
  plan: QuantizationPlan | undefined,
  hasImatrix: boolean,
  t: Translate,
  te: (key: string) => boolean,
  locale: string,
): SelectOption {
  const notes: string[] = []
  if (te(`quantization.notes.${type}`) && !(type === 'Q2_K_S' && plan && !plan.requiresImatrix)) {
    notes.push(t(`quantization.notes.${type}`))
  }
  if (plan && plan.fallbacks > 0) notes.push(t('quantization.fallbacks', { count: plan.fallbacks }))
  if (plan?.requiresImatrix && !hasImatrix && type !== 'Q2_K_S') notes.push(t('quantization.needsImatrix'))
  const base =
    plan && !plan.problem
      ? t('quantization.option', { type, bits: plan.bitsPerWeight.toFixed(2), size: formatBytes(plan.bytes, locale) })
      : t('quantization.optionLoading', { type })
  return {
    value: type,
    label: notes.length > 0 ? `${base} · ${notes.join(' · ')}` : base,
    disabled: !!plan?.problem || (!!plan?.requiresImatrix && !hasImatrix),
  }
}

export function groupedTypeOptions(
  plans: readonly QuantizationPlan[] | undefined,
  hasImatrix: boolean,
  t: Translate,
  te: (key: string) => boolean,
  locale: string,
): SelectGroupOption[] {
  const byType = new Map((plans ?? []).map((plan) => [plan.type, plan]))
  return TYPE_GROUPS.map((group) => ({
    type: 'group',
    key: group.key,
    label: t(`quantization.groups.${group.key}`),
    children: group.types.map((type) => typeOption(type, byType.get(type), hasImatrix, t, te, locale)),
  }))
}
