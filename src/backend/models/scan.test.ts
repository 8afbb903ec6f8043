// models.scan on a file or a missing folder is a clear 4xx, not a 500 (ENOTDIR) (issue 14).
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { suiteTempDir } from '../../../test/fixtures/suite-dir'
import { Backend } from '../backend'

let backend: Backend
let dir = ''

beforeAll(() => {
  dir = suiteTempDir('larder-scan-')
  backend = Backend.open({ home: join(dir, 'home'), validateOutput: true })
})

afterAll(async () => {
  await backend?.close()
})

describe('models.scan', () => {
  it('refuses a file and a missing folder with a clear error', async () => {
    const file = join(dir, 'model.gguf')
    writeFileSync(file, 'not a folder')
    await expect(backend.call('models.scan', { dir: file })).rejects.toMatchObject({
      code: 'invalid_input',
      path: ['dir'],
      message: expect.stringMatching(/is a file/),
    })
    await expect(backend.call('models.scan', { dir: join(dir, 'nope') })).rejects.toMatchObject({
      code: 'not_found',
      path: ['dir'],
    })
    await expect(backend.call('models.scan', { dir })).resolves.toMatchObject({ added: [] })
  })
})
