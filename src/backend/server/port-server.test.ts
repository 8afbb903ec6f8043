import { MessageChannel } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import type { PortMessage } from '../../shared/contract'
import { tempDir, waitUntil } from '../../../test/helpers'
import { Backend } from '../backend'
import { servePort } from './port-server'

// Electron's MessagePortMain is not available outside Electron; Node's MessagePort has the same shape, so the real
// transport code is exercised here and Electron's own wiring in the Electron spec.
describe('MessagePort transport', () => {
  it('answers calls, structured errors and pushes events', async () => {
    const backend = Backend.open({ home: tempDir(), validateOutput: true }).start()
    const { port1, port2 } = new MessageChannel()
    servePort(backend, {
      postMessage: (message) => port1.postMessage(message),
      onMessage: (listener) => port1.on('message', listener),
      onClose: (listener) => port1.on('close', listener),
      start: () => port1.start(),
    })
    const received: PortMessage[] = []
    port2.on('message', (message: PortMessage) => received.push(message))

    port2.postMessage({ type: 'call', id: 1, method: 'settings.update', input: { theme: 'dark' } })
    port2.postMessage({ type: 'call', id: 2, method: 'settings.update', input: { theme: 'purple' } })
    port2.postMessage({ type: 'call', id: 3, method: 'no.such', input: {} })
    port2.postMessage({ type: 'call', id: 4, method: 'backup.create', input: {} })
    port2.postMessage({ something: 'else' })
    await waitUntil(
      () =>
        received.some(
          (m) =>
            m.type === 'event' && m.name === 'job.updated' && (m.payload as { status: string }).status === 'succeeded',
        ),
      5000,
      'backup job events',
    )
    const results = new Map(received.filter((m) => m.type === 'result').map((m) => [(m as { id: number }).id, m]))
    expect(results.get(1)).toMatchObject({ ok: true, result: { theme: 'dark' } })
    expect(results.get(2)).toMatchObject({ ok: false, error: { code: 'invalid_input', path: ['theme'] } })
    expect(results.get(3)).toMatchObject({ ok: false, error: { code: 'unknown_method' } })
    expect(results.get(4)).toMatchObject({ ok: true })
    port2.close()
    await backend.close()
  })
})
