import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeEndpoint } from '../../test/fixtures/openai-server'
import { withConsole, type ConsolePage } from './console-page'
import type { ServeHandle } from '../harness'

interface Namespace {
  id: number
  name: string
}
interface Entry {
  id: number
  answer: string
  state: string
}

let dir = ''
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'larder-e2e-cache-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const chat = (content: string) => ({ model: 'support-bot', messages: [{ role: 'user', content }] })

/** Creates a namespace through the form and returns it as the backend stored it. */
async function createNamespace(serve: ServeHandle, console: ConsolePage, name: string): Promise<Namespace> {
  await console.testId('namespace-new').click()
  await console.testId('namespace-drawer').waitFor()
  await console.testId('namespace-name').locator('input').fill(name)
  // Tenant and name sit on one line although their hints differ in length.
  const [tenantBox, nameBox] = await Promise.all(
    ['namespace-tenant', 'namespace-name'].map(async (id) => (await console.testId(id).boundingBox())!),
  )
  expect(Math.abs(tenantBox!.y - nameBox!.y)).toBeLessThan(2)
  // A new namespace serves what it stores until curated, and says so; approved only is the strict choice.
  await expect(console.testId('namespace-policy-hint').innerText()).resolves.toMatch(/The default\./)
  await console.testId('namespace-drawer').screenshot({ path: '/tmp/dayone-namespace-policy.png' })
  await console.testId('namespace-prompt-version').locator('input').fill('v1')
  await console.testId('namespace-save').click()
  await console.testId('namespace-drawer').waitFor({ state: 'detached' })
  const { items } = await serve.call<{ items: Namespace[] }>('cache.namespaces.list')
  const namespace = items.find((item) => item.name === name)!
  await console.page.locator(`[data-testid="namespace-summary"][data-namespace-id="${namespace.id}"]`).waitFor()
  return namespace
}

describe('cache page', () => {
  it('creates a namespace, searches and bulk-approves entries, edits and reverts an answer, and reports invalidation', async () => {
    await withConsole({}, async ({ serve, ui, console }) => {
      await console.open('cache')
      await console.testId('cache-no-namespaces').waitFor()
      const namespace = await createNamespace(serve, console, 'support')
      await console.testId('entries-empty').waitFor()

      // Entries arriving while the page is open show up without a reload (cache.changed).
      const prompts = ['How do I reset my password?', 'Where is my parcel?', 'How do I cancel my plan?']
      const created: Entry[] = []
      for (const prompt of prompts) {
        created.push(
          await serve.call<Entry>('cache.entries.create', {
            namespaceId: namespace.id,
            request: chat(prompt),
            answer: `Answer to: ${prompt}`,
          }),
        )
      }
      await console.entryRow(created[2]!.id, 'draft').waitFor()
      await expect(console.entryRows.count()).resolves.toBe(3)

      // Full-text search narrows the table on the server.
      const search = console.testId('entries-search').locator('input')
      await search.fill('password')
      await search.press('Enter')
      await console.entryRow(created[1]!.id).waitFor({ state: 'detached' })
      await expect(console.entryRows.count()).resolves.toBe(1)
      await search.fill('')
      await search.press('Enter')
      await console.entryRow(created[1]!.id).waitFor()

      // Pick two rows and approve them together.
      for (const entry of created.slice(0, 2)) {
        await console.entryRow(entry.id).locator('.n-checkbox').click()
      }
      await expect(console.testId('entries-selected-count').innerText()).resolves.toContain('2 entries')
      await console.testId('bulk-approve').click()
      await console.entryRow(created[0]!.id, 'approved').waitFor()
      await console.entryRow(created[1]!.id, 'approved').waitFor()
      await console.entryRow(created[2]!.id, 'draft').waitFor()

      // Deleting asks first and says how many.
      await console.entryRow(created[2]!.id).locator('.n-checkbox').click()
      await console.testId('bulk-delete').click()
      await ui.page.getByText('Delete 1 entry?').waitFor()
      await console.testId('confirm-bulk-delete').click()
      await console.entryRow(created[2]!.id).waitFor({ state: 'detached' })

      // Edit an answer: a new version, with a diff against the earlier one; then revert.
      const target = created[0]!
      await console.testId(`entry-open-${target.id}`).click()
      await console.page.locator(`[data-testid="entry-drawer"][data-entry-id="${target.id}"]`).waitFor()
      const answer = console.testId('entry-answer').locator('textarea')
      await answer.fill('Open Settings, then Account, and choose “Reset password”.')
      await console.testId('entry-pending-diff').waitFor()
      await console.testId('entry-save').click()
      await console.entryRow(target.id).getByText('Open Settings, then Account').waitFor()
      const edited = await serve.call<{ entry: Entry; versions: { version: number }[] }>('cache.entries.get', {
        id: target.id,
      })
      expect(edited.entry.answer).toContain('Open Settings')
      const original = Math.min(...edited.versions.map((version) => version.version))
      await console.testId(`entry-compare-${original}`).click()
      await console.testId('entry-diff').locator('[data-testid="diff-added"]').first().waitFor()
      await expect(
        console.testId('entry-diff').locator('[data-testid="diff-removed"]').first().innerText(),
      ).resolves.toMatch(/\S/)
      await console.testId(`entry-revert-${original}`).click()
      await console.testId('confirm-revert').click()
      await console.entryRow(target.id).getByText(`Answer to: ${prompts[0]}`).waitFor()
      await expect(answer.inputValue()).resolves.toBe(`Answer to: ${prompts[0]}`)
      const reverted = await serve.call<{ entry: Entry }>('cache.entries.get', { id: target.id })
      expect(reverted.entry.answer).toBe(`Answer to: ${prompts[0]}`)

      // A new prompt version sends the old version's answers back to draft, and the page says how many.
      await ui.page.keyboard.press('Escape')
      await console.testId('entry-drawer').waitFor({ state: 'hidden' })
      await console.testId('namespace-edit').click()
      await console.testId('namespace-prompt-version').locator('input').fill('v2')
      await console.testId('namespace-will-invalidate').waitFor()
      await console.testId('namespace-save').click()
      await ui.page.getByText('2 entries made with the old model or prompt version went back to draft').waitFor()
      await console.entryRow(created[0]!.id, 'draft').waitFor()
      await console.entryRow(created[1]!.id, 'draft').waitFor()
      expect(ui.problems).toEqual([])
    })
  })

  it('shows how a cached answer ended: a tool call with its calls, a cut-off answer marked as such', async () => {
    // A real OpenAI-compatible upstream on 127.0.0.1 answers through the gateway of `larder serve`.
    const upstream = await startFakeEndpoint({ name: 'upstream', honourMaxTokens: true })
    try {
      await withConsole({}, async ({ serve, ui, console }) => {
        await serve.call('providers.save', { name: 'upstream', baseUrl: upstream.baseUrl, model: 'm' })
        const { secret } = await serve.call<{ secret: string }>('gateway.keys.create', { tenant: 'default' })
        const ask = (body: Record<string, unknown>) =>
          fetch(`${serve.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
            body: JSON.stringify({ model: 'upstream', ...body }),
          }).then((response) => response.json() as Promise<{ choices: { finish_reason: string }[] }>)
        const tools = [{ type: 'function', function: { name: 'weather', parameters: { type: 'object' } } }]
        const called = await ask({ messages: [{ role: 'user', content: 'Weather in Paris?' }], tools })
        expect(called.choices[0]!.finish_reason).toBe('tool_calls')
        const cut = await ask({ messages: [{ role: 'user', content: 'Tell me everything' }], max_tokens: 10 })
        expect(cut.choices[0]!.finish_reason).toBe('length')
        const { items: namespaces } = await serve.call<{ items: Namespace[] }>('cache.namespaces.list')
        const { items } = await serve.call<{ items: (Entry & { promptText: string })[] }>('cache.entries.list', {
          namespaceId: namespaces[0]!.id,
        })
        const toolEntry = items.find((entry) => entry.promptText === 'Weather in Paris?')!
        const cutEntry = items.find((entry) => entry.promptText === 'Tell me everything')!

        await console.open('cache')
        await console.testId(`entry-open-${toolEntry.id}`).click()
        await console.page.locator(`[data-testid="entry-drawer"][data-entry-id="${toolEntry.id}"]`).waitFor()
        await console.testId('entry-tool-call').waitFor()
        await expect(console.testId('entry-tool-calls').innerText()).resolves.toBe('weather({"city":"Paris"})')
        await console.page.screenshot({ path: join(tmpdir(), 'larder-cache-entry-tool-call.png') })
        await ui.page.keyboard.press('Escape')
        await console.testId('entry-drawer').waitFor({ state: 'hidden' })
        await console.testId(`entry-open-${cutEntry.id}`).click()
        await console.page.locator(`[data-testid="entry-drawer"][data-entry-id="${cutEntry.id}"]`).waitFor()
        await console.testId('entry-cut-off').waitFor()
        await console.page.screenshot({ path: join(tmpdir(), 'larder-cache-entry-cut-off.png') })
        expect(ui.problems).toEqual([])
      })
    } finally {
      await upstream.close()
    }
  })

  it('explains itself: policy, why each request missed, parameters in the key, broken text, prices, drafts to approve', async () => {
    const upstream = await startFakeEndpoint({ name: 'upstream' })
    try {
      await withConsole({}, async ({ serve, ui, console }) => {
        await serve.call('providers.save', { name: 'upstream', baseUrl: upstream.baseUrl, model: 'm' })
        const { secret } = await serve.call<{ secret: string }>('gateway.keys.create', { tenant: 'default' })
        const ask = async (content: string, extra: Record<string, unknown> = {}) => {
          const response = await fetch(`${serve.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
            body: JSON.stringify({ model: 'upstream', messages: [{ role: 'user', content }], ...extra }),
          })
          await response.text()
          return response.headers.get('x-larder-cache-reason')
        }
        expect(await ask('Opening hours?', { max_tokens: 50 })).toBe('no-entry')
        expect(await ask('Opening hours?', { max_tokens: 80 })).toBe('params-differ')
        expect(await ask('Opening hours?', { max_tokens: 80 })).toBeNull()
        expect(await ask('Menu caf\uFFFD?')).toBe('no-entry')
        const { items: namespaces } = await serve.call<{ items: (Namespace & { serveDrafts: boolean })[] }>(
          'cache.namespaces.list',
        )
        const ns = namespaces[0]!
        // The default policy serves what was stored; approved only is the strict mode.
        expect(ns.serveDrafts).toBe(true)
        await serve.call('cache.namespaces.save', { id: ns.id, name: ns.name, serveDrafts: false })
        expect(await ask('Opening hours?', { max_tokens: 50 })).toBe('draft-not-served')
        await serve.call('settings.update', {
          pricing: { inputPer1kTokens: 0.5, outputPer1kTokens: 1.5, currency: 'USD' },
        })
        const { items } = await serve.call<{
          items: (Entry & { promptText: string; params: { max_tokens?: number } })[]
        }>('cache.entries.list', { namespaceId: ns.id })
        const short = items.find((entry) => entry.params.max_tokens === 50)!
        const long = items.find((entry) => entry.params.max_tokens === 80)!
        const broken = items.find((entry) => entry.answer.includes('\uFFFD'))!

        await console.open('cache')
        await expect(console.testId(`entry-params-${short.id}`).innerText()).resolves.toBe('max_tokens 50')
        await console.testId(`entry-broken-${broken.id}`).waitFor()
        await console.testId(`entry-open-${short.id}`).click()
        await console.page.locator(`[data-testid="entry-drawer"][data-entry-id="${short.id}"]`).waitFor()
        await expect(console.testId('entry-params').innerText()).resolves.toBe('max_tokens 50')
        const sibling = console.testId('entry-siblings').locator(`li[data-entry-id="${long.id}"]`)
        await expect(sibling.innerText()).resolves.toMatch(/max_tokens 80/)
        await console.testId('entry-drawer').screenshot({ path: '/tmp/dayone-cache-entry-params.png' })
        await ui.page.keyboard.press('Escape')
        await console.testId('entry-drawer').waitFor({ state: 'hidden' })
        await console.testId(`entry-open-${broken.id}`).click()
        await console.testId('entry-broken-text').waitFor()
        await console.testId('entry-approve').click()
        await ui.page.getByText('contains U+FFFD').first().waitFor()
        await ui.page.keyboard.press('Escape')
        await console.testId('entry-drawer').waitFor({ state: 'hidden' })

        // The request log says why each request was not a hit.
        await console.cacheTab('log').click()
        for (const reason of ['no-entry', 'params-differ', 'draft-not-served'])
          await console.page.locator(`[data-testid^="log-reason-"][data-reason="${reason}"]`).first().waitFor()
        await console.testId('request-log-tab').screenshot({ path: '/tmp/dayone-cache-request-log.png' })

        // Analytics: money at today's prices, and the drafts to approve for the target.
        await console.cacheTab('analytics').click()
        await expect(console.testId('analytics-priced').innerText()).resolves.toMatch(/\$0\.50 per 1,000 tokens in/)
        const card = console.testId('approve-drafts')
        await card.waitFor()
        await expect(card.innerText()).resolves.toMatch(
          /Approving (this draft|these \d+ drafts) would raise the projected hit rate/,
        )
        await console.testId('analytics-tab').screenshot({ path: '/tmp/dayone-cache-analytics.png' })
        await console.testId('approve-drafts-button').click()
        await ui.page.getByText(/Approved \d+ drafts?\./).waitFor()
        const after = await serve.call<{ items: Entry[] }>('cache.entries.list', { namespaceId: ns.id })
        expect(after.items.find((entry) => entry.id === short.id)!.state).toBe('approved')
        expect(after.items.find((entry) => entry.id === broken.id)!.state).toBe('draft')
      })
    } finally {
      await upstream.close()
    }
  })

  it('imports a request log and shows the coverage curve, lists the log, and shows a new gateway key once', async () => {
    await withConsole({}, async ({ serve, ui, console }) => {
      const { namespace } = await serve.call<{ namespace: Namespace }>('cache.namespaces.save', { name: 'faq' })
      // A skewed log: a few questions make most of the traffic. One broken line is reported, not fatal.
      const counts = [40, 25, 12, 8, 5, 4, 3, 2, 1]
      const lines = counts.map((count, i) => JSON.stringify({ ...chat(`Question number ${i + 1}`), count }))
      lines.splice(3, 0, '{not json')
      const logPath = join(dir, 'requests.jsonl')
      writeFileSync(logPath, `${lines.join('\n')}\n`)

      await console.open('cache')
      await console.page.locator(`[data-testid="namespace-summary"][data-namespace-id="${namespace.id}"]`).waitFor()
      await console.cacheTab('analytics').click()
      await console.testId('analytics-empty').waitFor()

      await console.cacheTab('transfer').click()
      await console.testId('import-log-path').locator('input').fill(logPath)
      await console.testId('import-log-start').click()
      const result = console.page.locator('[data-testid="import-log-result"][data-status="succeeded"]')
      await result.waitFor()
      await expect(result.innerText()).resolves.toMatch(/Imported 100 requests; 1 lines skipped[\s\S]*Line 4/)

      await console.cacheTab('analytics').click()
      const chart = console.testId('coverage-chart')
      await chart.locator('canvas').waitFor()
      await expect(chart.getAttribute('data-points')).resolves.toBe(String(counts.length))
      await expect(console.testId('analytics-total').innerText()).resolves.toBe('100')
      // 40 + 25 of 100 requests: the top 2 questions cover half the traffic.
      await expect(console.testId('entries-for-50').getAttribute('data-value')).resolves.toBe('2')
      await expect(console.testId('top-uncached').innerText()).resolves.toContain('Question number 1')

      await console.cacheTab('log').click()
      await console.page.locator('[data-testid^="log-row-"]').first().waitFor()

      // A new key's secret is shown once, with a warning; afterwards only its prefix is listed.
      await console.cacheTab('gateway').click()
      await expect(console.testId('gateway-base-url').innerText()).resolves.toBe(`${serve.url}/v1`)
      await console.testId('key-label').locator('input').fill('web')
      await console.testId('key-create').click()
      const secret = await console.testId('key-secret').innerText()
      expect(secret.length).toBeGreaterThan(20)
      await expect(console.testId('key-secret-dialog').innerText()).resolves.toContain('shown only this once')
      await console.testId('key-secret-done').click()
      await console.testId('key-secret-dialog').waitFor({ state: 'detached' })
      const { items } = await serve.call<{ items: { id: number; prefix: string }[] }>('gateway.keys.list')
      expect(items).toHaveLength(1)
      await console.testId(`key-row-${items[0]!.id}`).waitFor()
      expect(secret.startsWith(items[0]!.prefix)).toBe(true)
      await expect(console.testId('gateway-tab').innerText()).resolves.not.toContain(secret)
      expect(ui.problems).toEqual([])
    })
  })
})
