// `larder distill promotions|promote|rollback|evaluations` in process against a real workspace: empty listings say
// so, and bad input exits with the matching code and the backend's reason.
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { tempDir } from '../../../test/helpers'
import { EXIT } from '../exit-codes'
import { runCli } from '../main'

async function larder(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const code = await runCli(args, { out: (t) => (out += t), err: (t) => (err += t), stdinIsTTY: false })
  return { code, out, err }
}

describe('larder distill eval/promote (CLI)', () => {
  it('lists nothing yet, and refuses unknown namespaces, models and promotions with the reason', async () => {
    const home = join(tempDir(), 'home')
    expect(await larder(['--home', home, 'distill', 'promotions'])).toMatchObject({
      code: EXIT.ok,
      out: 'No promotions yet.\n',
    })
    expect(await larder(['--home', home, 'distill', 'evaluations'])).toMatchObject({
      code: EXIT.ok,
      out: 'No evaluations yet.\n',
    })
    const promote = await larder(['--home', home, 'distill', 'promote', '--namespace', 'nope', '--model', 'm'])
    expect(promote.code).toBe(EXIT.notFound)
    expect(promote.err).toMatch(/No cache namespace "nope"/)
    const rollback = await larder(['--home', home, 'distill', 'rollback', '7'])
    expect(rollback.code).toBe(EXIT.notFound)
    expect(rollback.err).toMatch(/Promotion 7 does not exist/)
    const evaluate = await larder(['--home', home, 'distill', 'eval', '--data', '/nope.jsonl', '--student', 'x'])
    expect(evaluate.code).toBe(EXIT.notFound)
    expect(evaluate.err).toMatch(/No model named "x"/)
  })
})
