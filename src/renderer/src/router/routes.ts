import type { RouteComponent, RouteRecordRaw } from 'vue-router'
import type { NavIconName } from '../components/nav-icon'

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

// Each page is its own chunk, loaded the first time it is opened: the console starts without every page's code.
const views: Record<Area, () => Promise<RouteComponent>> = {
  models: () => import('../views/models/index.vue'),
  playground: () => import('../views/playground/index.vue'),
  cache: () => import('../views/cache/index.vue'),
  templates: () => import('../views/templates/index.vue'),
  pipelines: () => import('../views/pipelines/index.vue'),
  distillation: () => import('../views/distillation/index.vue'),
  jobs: () => import('../views/jobs/index.vue'),
  export: () => import('../views/export/index.vue'),
  settings: () => import('../views/settings/index.vue'),
}

export const routes: RouteRecordRaw[] = [
  { path: '/', redirect: '/jobs' },
  ...AREAS.map((area) => ({ path: `/${area}`, name: area, component: views[area] })),
  { path: '/:unknown(.*)*', redirect: '/jobs' },
]
