// Paths taken by the API are absolute for the machine running Larder (issue 14): on Linux and macOS a Windows path
// (`C:\x`, `\\server\x`) is a relative file name that resolved into the server's working directory (backups and
// exports were written there). Every method that takes a path refuses it, and NUL characters, before any work.
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isAbsolutePathFor } from '../../shared/contract'
import { suiteTempDir } from '../../../test/fixtures/suite-dir'
import { Backend } from '../backend'

let backend: Backend
let root = ''

beforeAll(async () => {
  root = suiteTempDir('larder-paths-')
  backend = Backend.open({ home: join(root, 'home'), validateOutput: true })
  await backend.call('cache.namespaces.save', { name: 'n' })
})

afterAll(async () => {
  await backend?.close()
})

const FOREIGN = process.platform === 'win32' ? ['/srv/x', '/tmp/x'] : ['C:\\x', 'c:/x', '\\\\server\\share\\x']
const BAD = [...FOREIGN, 'relative/x', 'x', `${process.platform === 'win32' ? 'C:\\' : '/'}tmp\0x`]

describe('paths in API calls', () => {
  it.runIf(process.platform !== 'win32')('are refused unless absolute for this platform, in every method', async () => {
    const cwdBefore = readdirSync(process.cwd()).sort()
    const calls: [string, (path: string) => Record<string, unknown>, string][] = [
      ['backup.create', (path) => ({ path }), 'path'],
      ['backup.restore', (path) => ({ path }), 'path'],
      ['export.cdn', (path) => ({ outDir: path }), 'outDir'],
      ['export.cdn', (path) => ({ outDir: join(root, 'out'), tarPath: path }), 'tarPath'],
      ['export.cdn', (path) => ({ outDir: join(root, 'out'), since: path }), 'since'],
      ['models.register', (path) => ({ path }), 'path'],
      ['models.scan', (path) => ({ dir: path }), 'dir'],
      ['cache.log.import', (path) => ({ namespaceId: 1, path }), 'path'],
      ['cache.import', (path) => ({ namespaceId: 1, path }), 'path'],
      ['cache.export', (path) => ({ namespaceId: 1, path }), 'path'],
    ]
    for (const [method, input, field] of calls) {
      for (const path of BAD) {
        await expect(backend.call(method, input(path)), `${method} ${JSON.stringify(path)}`).rejects.toMatchObject({
          code: 'invalid_input',
          path: [field],
        })
      }
    }
    expect(readdirSync(process.cwd()).sort()).toEqual(cwdBefore)
    expect(existsSync(join(process.cwd(), 'C:\\x'))).toBe(false)
  })

  it('tells the styles apart', () => {
    expect(isAbsolutePathFor('posix', '/srv/x')).toBe(true)
    expect(isAbsolutePathFor('posix', 'C:\\x')).toBe(false)
    expect(isAbsolutePathFor('posix', '\\\\server\\x')).toBe(false)
    expect(isAbsolutePathFor('win32', 'C:\\x')).toBe(true)
    expect(isAbsolutePathFor('win32', 'd:/x')).toBe(true)
    expect(isAbsolutePathFor('win32', '\\\\server\\share')).toBe(true)
    expect(isAbsolutePathFor('win32', '/srv/x')).toBe(false)
    expect(isAbsolutePathFor('win32', 'C:x')).toBe(false)
    expect(isAbsolutePathFor('any', 'C:\\x')).toBe(true)
  })
})
