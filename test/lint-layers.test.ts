import { ESLint } from 'eslint'
import { describe, expect, it } from 'vitest'

// The layer rules of docs/ARCHITECTURE.md are enforced by ESLint; this proves the rules bite.
const eslint = new ESLint()

async function restrictedImports(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath })
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message)
}

describe('layer boundaries', () => {
  it('keeps src/shared free of platform code', async () => {
    expect(
      await restrictedImports(
        `import { readFileSync } from 'node:fs'\nexport const x = readFileSync\n`,
        'src/shared/x.ts',
      ),
    ).toHaveLength(1)
    expect(await restrictedImports(`import { z } from 'zod'\nexport const x = z\n`, 'src/shared/x.ts')).toHaveLength(0)
  })

  it('never lets the renderer import the backend or node', async () => {
    expect(
      await restrictedImports(
        `import { Backend } from '../../backend/backend'\nexport const x = Backend\n`,
        'src/renderer/src/x.ts',
      ),
    ).toHaveLength(1)
    expect(
      await restrictedImports(
        `import Database from 'better-sqlite3'\nexport const x = Database\n`,
        'src/renderer/src/x.ts',
      ),
    ).toHaveLength(1)
  })

  it('never lets the backend import electron', async () => {
    expect(
      await restrictedImports(`import { app } from 'electron'\nexport const x = app\n`, 'src/backend/x.ts'),
    ).toHaveLength(1)
  })
})
