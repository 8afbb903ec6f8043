/** English text of the Settings page's header. `ko/settings-page.ts` has the same keys. */
const settingsPage = {
  description: 'How the console looks, what generation costs you, where the workspace lives, and its backups.',
}

export default settingsPage
