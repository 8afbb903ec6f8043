// The Mustache spec (test/data/mustache-spec, MIT, see SOURCE) run against Larder's renderer, and against
// mustache.js for comparison: the reason Larder has its own renderer is in what mustache.js gets wrong here.
import Mustache from 'mustache'
import { describe, expect, it } from 'vitest'
import comments from '../../../test/data/mustache-spec/comments.json'
import delimiters from '../../../test/data/mustache-spec/delimiters.json'
import interpolation from '../../../test/data/mustache-spec/interpolation.json'
import inverted from '../../../test/data/mustache-spec/inverted.json'
import sections from '../../../test/data/mustache-spec/sections.json'
import { renderTemplate } from './mustache'

interface SpecTest {
  name: string
  data: unknown
  template: string
  expected: string
  partials?: Record<string, string>
}

const suites: Record<string, SpecTest[]> = {
  interpolation: interpolation.tests,
  sections: sections.tests,
  inverted: inverted.tests,
  comments: comments.tests,
  // Partials are not supported (a template is one sentence); two delimiter tests use them and are skipped.
  delimiters: (delimiters.tests as SpecTest[]).filter((test) => test.partials === undefined),
}

describe('Mustache spec', () => {
  for (const [suite, tests] of Object.entries(suites)) {
    describe(suite, () => {
      it.each(tests.map((test) => [test.name, test] as const))('%s', (_name, test) => {
        expect(renderTemplate(test.template, test.data)).toBe(test.expected)
      })
    })
  }

  it('runs every test of the required suites (only the two partial-based delimiter tests are left out)', () => {
    expect(suites.interpolation!.length).toBe(42)
    expect(suites.sections!.length).toBe(34)
    expect(suites.inverted!.length).toBe(22)
    expect(suites.comments!.length).toBe(12)
    expect(suites.delimiters!.length).toBe(delimiters.tests.length - 2)
  })

  it('mustache.js 4.2 fails dotted-name context precedence (one reason for our own renderer)', () => {
    const failures = Object.entries(suites).flatMap(([suite, tests]) =>
      tests
        .filter((test) => Mustache.render(test.template, test.data as object) !== test.expected)
        .map((test) => `${suite}: ${test.name}`),
    )
    expect(failures).toEqual(['interpolation: Dotted Names - Context Precedence'])
  })
})
