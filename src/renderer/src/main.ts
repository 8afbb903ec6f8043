// Noto Sans KR (regular), split by unicode-range into small woff2 files served from the app itself (font-src 'self'):
// the browser fetches only the slices the page's Hangul needs, so Korean renders where no CJK font is installed.
import '@fontsource/noto-sans-kr/400.css'
import { createPinia } from 'pinia'
import { createApp } from 'vue'
import App from './App.vue'
import { i18n } from './locales'
import { router } from './router'
import { useAppStore } from './stores/app'

const app = createApp(App)
app.use(createPinia())
app.use(i18n)
app.use(router)
app.mount('#app')

void useAppStore().bootstrap()
