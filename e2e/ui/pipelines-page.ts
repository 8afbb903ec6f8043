/**
 * Page object for the Pipelines page: the list, the graph editor (palette, canvas, node panel), runs and traces,
 * versions. Selectors are data-testid only; every wait is on a condition.
 */
import type { Locator, Page } from 'playwright-core'

export class PipelinesPage {
  constructor(readonly page: Page) {}

  testId(id: string): Locator {
    return this.page.getByTestId(id)
  }

  // List
  get root(): Locator {
    return this.testId('pipelines-page')
  }
  row(name: string): Locator {
    return this.testId(`pipeline-row-${name}`)
  }

  /** Creates a pipeline from the New dialog (blank unless a starter key is given); the editor opens. */
  async create(name: string, starter = 'blank'): Promise<void> {
    await this.testId('pipelines-new').click()
    await this.testId(`new-starter-${starter}`).click()
    await this.testId('new-name').locator('input').fill(name)
    await this.testId('new-create').click()
    await this.editorFor(name).waitFor()
  }

  // Editor
  get editor(): Locator {
    return this.testId('pipeline-editor')
  }
  editorFor(name: string): Locator {
    return this.page.locator(`[data-testid="pipeline-editor"]:has([data-testid="editor-name"]:text-is("${name}"))`)
  }
  get canvas(): Locator {
    return this.testId('pipeline-canvas')
  }
  node(id: string): Locator {
    return this.testId(`node-${id}`)
  }
  nodeWithStatus(id: string, status: string): Locator {
    return this.page.locator(`[data-testid="node-${id}"][data-status="${status}"]`)
  }
  get nodes(): Locator {
    return this.page.locator('[data-testid^="node-"][data-node-type]')
  }
  get panel(): Locator {
    return this.testId('node-panel')
  }
  panelFor(id: string): Locator {
    return this.page.locator(`[data-testid="node-panel"][data-node-id="${id}"]`)
  }

  async waitVersion(version: number, dirty = false): Promise<void> {
    await this.page
      .locator(`[data-testid="pipeline-editor"][data-version="${version}"][data-dirty="${dirty}"]`)
      .waitFor()
  }

  async waitProblems(count: number): Promise<void> {
    await this.page.locator(`[data-testid="pipeline-editor"][data-problems="${count}"]`).waitFor()
  }

  /**
   * Drags a node type from the palette onto the canvas (HTML5 drag and drop) at a point given as fractions of the
   * canvas size; returns the id the new node got (it is selected, so the panel shows it).
   */
  async dropNode(type: string, at: { x: number; y: number }): Promise<string> {
    const box = await this.canvas.boundingBox()
    if (!box) throw new Error('The canvas is not visible.')
    const before = await this.nodeIds()
    await this.testId(`palette-${type}`).dragTo(this.canvas, {
      targetPosition: { x: box.width * at.x, y: box.height * at.y },
    })
    await this.page.waitForFunction(
      (count) => document.querySelectorAll('[data-testid^="node-"][data-node-type]').length > count,
      before.length,
    )
    const added = (await this.nodeIds()).filter((id) => !before.includes(id))
    if (added.length !== 1) throw new Error(`Expected one new node, got ${added.join(', ')}`)
    return added[0]!
  }

  async nodeIds(): Promise<string[]> {
    return this.page.$$eval('[data-testid^="node-"][data-node-type]', (elements) =>
      elements.map((element) => element.getAttribute('data-testid')!.slice('node-'.length)),
    )
  }

  handle(nodeId: string, side: 'in' | 'out', port: string): Locator {
    return this.testId(`handle-${nodeId}-${side}-${port}`)
  }

  /** Connects two ports by dragging from one handle to the other with the mouse. */
  async connect(from: [string, string], to: [string, string]): Promise<void> {
    const source = await this.handle(from[0], 'out', from[1]).boundingBox()
    const target = await this.handle(to[0], 'in', to[1]).boundingBox()
    if (!source || !target) throw new Error(`Handles ${from.join('.')} or ${to.join('.')} are not visible.`)
    const edgesBefore = await this.page.locator('.vue-flow__edge').count()
    await this.page.mouse.move(source.x + source.width / 2, source.y + source.height / 2)
    await this.page.mouse.down()
    await this.page.mouse.move(target.x + target.width / 2, target.y + target.height / 2, { steps: 8 })
    await this.page.mouse.up()
    await this.page.waitForFunction((count) => document.querySelectorAll('.vue-flow__edge').length > count, edgesBefore)
  }

  /** Selects a node by clicking its title. */
  async select(id: string): Promise<void> {
    await this.node(id).locator('.pnode__title').click()
    await this.panelFor(id).waitFor()
  }

  async renameSelected(to: string): Promise<void> {
    const input = this.testId('node-id-input').locator('input')
    await input.fill(to)
    await input.press('Enter')
    await this.panelFor(to).waitFor()
  }

  /** Picks the model of the selected node: `provider-3` or `model-2`. */
  async chooseTarget(key: string): Promise<void> {
    await this.testId('node-target').click()
    await this.testId(`target-option-${key}`).click()
  }

  async setNumber(testId: string, value: number): Promise<void> {
    const input = this.testId(testId).locator('input')
    await input.fill(String(value))
    await input.blur()
  }

  async save(note: string): Promise<void> {
    await this.testId('editor-save').click()
    await this.testId('save-note').locator('input').fill(note)
    await this.testId('save-confirm').click()
    await this.testId('save-dialog').waitFor({ state: 'detached' })
  }

  async tab(name: 'run' | 'problems' | 'history' | 'ledger'): Promise<void> {
    await this.testId(`tab-${name}`).click()
  }

  // Runs and traces
  runStatus(status: string): Locator {
    return this.page.locator(`[data-testid="run-status"][data-status="${status}"]`)
  }
  traceNode(id: string): Locator {
    return this.testId(`trace-node-${id}`)
  }

  // Versions
  versionPick(version: number): Locator {
    return this.testId(`version-pick-${version}`)
  }
}
