// The paced backup's sleep between steps must not leave an abort listener per step on the job's signal (issue 14:
// a long paced backup printed MaxListenersExceededWarning).
import { getEventListeners } from 'node:events'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { fillDatabase, tempDir } from '../../../test/helpers'
import { openDatabase } from '../db/database'
import { sleep, steppedBackup } from './sqlite-backup'

describe('paced backup', () => {
  it('removes its abort listener after every pause (no MaxListenersExceededWarning)', async () => {
    const db = openDatabase(join(tempDir(), 'source.db'))
    fillDatabase(db, 1)
    const controller = new AbortController()
    const warnings: string[] = []
    const onWarning = (warning: Error): void => void warnings.push(warning.name)
    process.on('warning', onWarning)
    let steps = 0
    let most = 0
    try {
      await steppedBackup(db, join(tempDir(), 'copy.db'), {
        pagesPerStep: 4,
        stepDelayMs: 1,
        signal: controller.signal,
        onProgress: () => {
          steps++
          most = Math.max(most, getEventListeners(controller.signal, 'abort').length)
        },
      })
      await new Promise((resolve) => setImmediate(resolve))
    } finally {
      process.off('warning', onWarning)
      db.close()
    }
    expect(steps).toBeGreaterThan(20)
    expect(most).toBeLessThanOrEqual(1)
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0)
    expect(warnings).not.toContain('MaxListenersExceededWarning')
  })

  it('sleep ends early on abort and removes its listener', async () => {
    const controller = new AbortController()
    const started = performance.now()
    const waiting = sleep(10_000, controller.signal)
    controller.abort()
    await waiting
    expect(performance.now() - started).toBeLessThan(1000)
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0)
  })
})
