import { describe, expect, it } from 'vitest'
import { withConsole } from './console-page'

interface BackupFile {
  name: string
  path: string
}

describe('backups in Settings', () => {
  it('backs up, lists the file, and restores it after a confirmation that says how to undo', async () => {
    await withConsole({ prefillMegabytes: 8 }, async ({ serve, ui, console }) => {
      await console.open('settings')
      await console.testId('backups-empty').waitFor()

      await console.backupNow.click()
      await console.testId('backup-progress').waitFor()
      await console.backupResult('succeeded').waitFor({ timeout: 40_000 })
      await expect(console.testId('backup-progress').getAttribute('data-progress')).resolves.toBe('100')

      const [backup] = (await serve.call<{ items: BackupFile[] }>('backup.list')).items
      expect(backup).toBeDefined()
      await console.testId(`backup-row-${backup!.name}`).waitFor()
      await expect(console.backupResult().innerText()).resolves.toContain(backup!.name)

      // Change something after the backup, so the restore has something visible to undo.
      await console.theme('dark').click()
      await ui.page.locator('html[data-theme="dark"]').waitFor()
      await expect.poll(() => serve.call('settings.get')).toMatchObject({ theme: 'dark' })

      await console.restoreButton(backup!.name).click()
      await console.confirmRestore.waitFor()
      const dialog = ui.page.locator('.n-dialog')
      await expect(dialog.innerText()).resolves.toContain('The current database is saved as a backup first')
      await console.confirmRestore.click()

      await console.testId('restore-progress').waitFor()
      await console.restoreResult('succeeded').waitFor({ timeout: 40_000 })
      // The console reloaded its state from the restored database: the theme chosen after the backup is gone.
      await ui.page.locator('html[data-theme="light"]').waitFor()
      await expect(console.theme('system').locator('input').isChecked()).resolves.toBe(true)
      await expect.poll(() => serve.call('settings.get')).toMatchObject({ theme: 'system' })

      // The database as it was before the restore is now a backup of its own, listed and restorable.
      await console.backupRows('pre-restore-').first().waitFor()
      const text = await console.restoreResult().innerText()
      expect(text).toMatch(/pre-restore-.*\.db; restore that file to undo/)
      expect(ui.problems).toEqual([])
    })
  })
})
