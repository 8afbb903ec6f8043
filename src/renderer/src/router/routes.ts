import type { Component } from 'vue'
import type { RouteRecordRaw } from 'vue-router'
import type { NavIconName } from '../components/nav-icon'
import CacheView from '../views/cache/index.vue'
import DistillationView from '../views/distillation/index.vue'
import ExportView from '../views/export/index.vue'
import JobsView from '../views/jobs/index.vue'
import ModelsView from '../views/models/index.vue'
import PipelinesView from '../views/pipelines/index.vue'
import PlaygroundView from '../views/playground/index.vue'
import SettingsView from '../views/settings/index.vue'
import TemplatesView from '../views/templates/index.vue'

/** The console's areas, in menu order. `name` doubles as the i18n key `nav.<name>` and the test id `nav-<name>`. */
export const AREAS = [
  'models',
  'playground',
  'cache',
  'templates',
  'pipelines',
  'distillation',
  'jobs',
  'export',
  'settings',
] as const
export type Area = (typeof AREAS)[number] & NavIconName

const views: Record<Area, Component> = {
  models: ModelsView,
  playground: PlaygroundView,
  cache: CacheView,
  templates: TemplatesView,
  pipelines: PipelinesView,
  distillation: DistillationView,
  jobs: JobsView,
  export: ExportView,
  settings: SettingsView,
}

export const routes: RouteRecordRaw[] = [
  { path: '/', redirect: '/jobs' },
  ...AREAS.map((area) => ({ path: `/${area}`, name: area, component: views[area] })),
  { path: '/:unknown(.*)*', redirect: '/jobs' },
]
