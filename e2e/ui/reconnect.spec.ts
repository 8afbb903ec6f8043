import { createServer, request, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { describe, expect, it } from 'vitest'
import { launchBrowser, startServe } from '../harness'
import { ConsolePage } from './console-page'

/**
 * A pass-through proxy in front of `larder serve` that the test can cut and restore, as a flaky network would:
 * cutting drops every open connection (the event stream included) and refuses new ones.
 */
class CuttableProxy {
  private readonly server: Server
  private readonly sockets = new Set<Socket>()
  port = 0

  constructor(private readonly target: URL) {
    this.server = createServer((incoming, outgoing) => {
      const headers = { ...incoming.headers, host: target.host }
      // The backend accepts requests from its own origin only; the proxy stands in for it.
      if (headers.origin) headers.origin = target.origin
      const upstream = request(
        { host: target.hostname, port: target.port, method: incoming.method, path: incoming.url, headers },
        (reply) => {
          outgoing.writeHead(reply.statusCode ?? 502, reply.headers)
          reply.pipe(outgoing)
        },
      )
      upstream.on('error', () => outgoing.destroy())
      outgoing.on('close', () => upstream.destroy())
      incoming.pipe(upstream)
    })
    this.server.on('connection', (socket) => {
      this.sockets.add(socket)
      socket.on('close', () => this.sockets.delete(socket))
    })
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', resolve))
    this.port = (this.server.address() as AddressInfo).port
  }

  async cut(): Promise<void> {
    const closed = new Promise((resolve) => this.server.close(resolve))
    for (const socket of this.sockets) socket.destroy()
    await closed
  }
}

describe('connection to the backend', () => {
  it('shows that it is reconnecting when the event stream drops, then refetches what it missed', async () => {
    const serve = await startServe()
    const proxy = new CuttableProxy(new URL(serve.url))
    await proxy.listen()
    const browser = await launchBrowser()
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
      page.setDefaultTimeout(30_000)
      const problems: string[] = []
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(message.text())
      })
      const console = new ConsolePage(page)
      await page.goto(`http://127.0.0.1:${proxy.port}/?token=${encodeURIComponent(serve.token)}`)
      await console.waitReady()
      await console.testId('jobs-page').waitFor()
      await page.locator('[data-testid="connection-state"][data-state="connected"]').waitFor()

      await proxy.cut()
      await console.testId('reconnecting-banner').waitFor()
      await page.locator('[data-testid="connection-state"][data-state="reconnecting"]').waitFor()

      // Work done while the console cannot hear about it.
      const { job } = await serve.call<{ job: { id: number } }>('backup.create')
      await expect
        .poll(() => serve.call('jobs.get', { id: job.id }), { timeout: 30_000 })
        .toMatchObject({ status: 'succeeded' })
      await expect(console.jobRow(job.id).count()).resolves.toBe(0)

      await proxy.listen()
      await console.testId('reconnecting-banner').waitFor({ state: 'detached' })
      await page.locator('[data-testid="connection-state"][data-state="connected"]').waitFor()
      await console.jobRow(job.id, 'succeeded').waitFor()
      // Refused connections are expected while cut; a CSP violation never is.
      expect(problems.filter((text) => /Content Security Policy/i.test(text))).toEqual([])
    } finally {
      await browser.close()
      await proxy.cut().catch(() => undefined)
      await serve.stop()
    }
  })
})
