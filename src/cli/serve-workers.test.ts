import { existsSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { spawnCli, waitForOutput } from '../../test/cli-process'
import { tempDir } from '../../test/helpers'

const spawnServe = (args: string[]) => spawnCli(['serve', ...args])
const waitFor = (read: () => string, pattern: RegExp) => waitForOutput(read, pattern, 60_000)

function post(
  url: string,
  token: string,
  body: unknown,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const text = JSON.stringify(body)
    const req = request(
      url,
      {
        method: 'POST',
        agent: false,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      },
      (response) => {
        let data = ''
        response.on('data', (chunk: Buffer) => (data += chunk.toString()))
        response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body: data }))
      },
    )
    req.on('error', reject)
    req.end(text)
  })
}

describe('larder serve --workers (real processes)', () => {
  it('answers from both worker processes over one workspace, and stops all of them cleanly', async () => {
    const home = tempDir()
    const serve = spawnServe(['--home', home, '--port', '0', '--workers', '2'])
    try {
      const [, url, token] = await waitFor(
        () => serve.output().out,
        /Open the console: (http:\/\/127\.0\.0\.1:\d+)\/\?token=(\S+)/,
      )
      const [, first, second] = await waitFor(() => serve.output().out, /worker processes: (\d+), (\d+)/)
      const secret = decodeURIComponent(token!)
      // One approved answer, created through one worker's API, served by both.
      const saved = await post(`${url}/api/cache.namespaces.save`, secret, { tenant: 'default', name: 'default' })
      expect(saved.status).toBe(200)
      const namespaceId = (JSON.parse(saved.body) as { result: { namespace: { id: number } } }).result.namespace.id
      const messages = [{ role: 'user', content: 'Where is my parcel?' }]
      const created = await post(`${url}/api/cache.entries.create`, secret, {
        namespaceId,
        request: { model: 'm', messages, params: {} },
        answer: 'It is on its way.',
        state: 'approved',
      })
      expect(created.status).toBe(200)
      const pids = new Set<string>()
      for (let i = 0; i < 8; i++) {
        const answer = await post(`${url}/v1/chat/completions`, secret, { model: 'm', messages })
        expect(answer.status).toBe(200)
        expect(answer.headers['x-larder-cache']).toBe('hit-exact')
        expect(JSON.parse(answer.body).choices[0].message.content).toBe('It is on its way.')
        pids.add(String(answer.headers['x-larder-worker']))
      }
      expect([...pids].sort()).toEqual([first, second].sort())

      serve.child.kill('SIGINT')
      expect(await serve.exit).toBe(0)
      expect(serve.output().out).toMatch(/Stopped cleanly/)
      // Every worker flushed its counters and log rows; the WAL was folded into larder.db.
      expect(existsSync(join(home, 'larder.db-wal'))).toBe(false)
      const db = new Database(join(home, 'larder.db'), { readonly: true })
      expect(db.prepare(`SELECT count(*) FROM request_log WHERE hit_kind = 'hit-exact'`).pluck().get()).toBe(8)
      expect(db.prepare('SELECT hit_count FROM cache_entries').pluck().get()).toBe(8)
      db.close()
    } finally {
      if (serve.child.exitCode === null) serve.child.kill('SIGKILL')
    }
  }, 120_000)

  it('exits 5 when the port is taken, with every worker stopped', async () => {
    const first = spawnServe(['--home', tempDir(), '--port', '0'])
    try {
      const [, port] = await waitFor(() => first.output().out, /127\.0\.0\.1:(\d+)/)
      const second = spawnServe(['--home', tempDir(), '--port', port!, '--workers', '2'])
      expect(await second.exit).toBe(5)
      expect(second.output().err).toMatch(new RegExp(`Port ${port} on 127.0.0.1 is already in use`))
    } finally {
      first.child.kill('SIGINT')
      await first.exit
    }
  }, 120_000)
})
