import { computed } from 'vue'
import type { SelectGroupOption } from 'naive-ui'
import { useI18n } from 'vue-i18n'
import { useModelsStore } from '../../../stores/models'

/** Local models and providers as select groups, valued `model:<id>` / `provider:<id>`. */
export function useTargetOptions() {
  const { t } = useI18n()
  const models = useModelsStore()
  return computed<SelectGroupOption[]>(() => [
    {
      type: 'group',
      key: 'models',
      label: t('playground.localModels'),
      children: models.items.map((model) => ({
        value: `model:${model.id}`,
        label: model.loaded ? model.name : `${model.name} (${t('models.notLoaded')})`,
      })),
    },
    {
      type: 'group',
      key: 'providers',
      label: t('playground.providers'),
      children: models.providers.map((provider) => ({
        value: `provider:${provider.id}`,
        label: `${provider.name} · ${provider.model}`,
      })),
    },
  ])
}
