import { createRouter, createWebHashHistory } from 'vue-router'
import { routes } from './routes'

// Hash history: the desktop app loads the console from file://, where path-based URLs cannot resolve.
export const router = createRouter({
  history: createWebHashHistory(),
  routes,
})
