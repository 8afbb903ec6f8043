import fc from 'fast-check'
import Mustache from 'mustache'
import { describe, expect, it } from 'vitest'
import { TemplateSyntaxError, compileTemplate, escapeHtml, parseTemplate, renderTemplate } from './mustache'

function syntaxErrorOf(source: string): TemplateSyntaxError {
  try {
    parseTemplate(source)
  } catch (error) {
    if (error instanceof TemplateSyntaxError) return error
    throw error
  }
  throw new Error(`expected ${JSON.stringify(source)} to be refused`)
}

describe('renderer', () => {
  it('says where an unbalanced template is wrong', () => {
    expect(syntaxErrorOf('Hi {{name}, ok').message).toBe('Unclosed tag: "{{" has no matching "}}" (line 1, column 4)')
    expect(syntaxErrorOf('Hi {{#date}}on {{date}}').message).toBe(
      'Unclosed section {{#date}}: add {{/date}} (line 1, column 4)',
    )
    expect(syntaxErrorOf('a\n{{#a}}{{/b}}').message).toBe(
      'Closing tag {{/b}} does not match the open section {{#a}} from line 2, column 1 (line 2, column 7)',
    )
    expect(syntaxErrorOf('x {{/a}}').message).toMatch(/Unexpected closing tag \{\{\/a\}\}: no section is open/)
    expect(syntaxErrorOf('{{}}').message).toMatch(/Empty tag/)
    expect(syntaxErrorOf('{{a b}}').message).toMatch(/contains spaces/)
    expect(syntaxErrorOf('{{> header}}').message).toMatch(/Partials .* are not supported/)
    expect(syntaxErrorOf('{{{name}}').message).toMatch(/no matching "\}\}\}"/)
    const error = syntaxErrorOf('line one\n  {{#open}}')
    expect([error.line, error.column, error.offset]).toEqual([2, 3, 11])
  })

  it('treats values as data: a value that looks like a tag is printed, never parsed', () => {
    const data = { name: '{{secret}}', secret: 'LEAK', html: '<b>"Tom" & \'Jerry\'</b>' }
    expect(renderTemplate('Hi {{name}}!', data)).toBe('Hi {{secret}}!')
    expect(renderTemplate('Hi {{{name}}}!', data)).toBe('Hi {{secret}}!')
    expect(renderTemplate('{{html}}', data)).toBe('&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jerry&#39;&lt;&#x2F;b&gt;')
    expect(renderTemplate('{{{html}}}|{{&html}}', data)).toBe(`${data.html}|${data.html}`)
  })

  it('escapes exactly what mustache.js escapes', () => {
    const every = '&<>"\'/`= plain'
    expect(escapeHtml(every)).toBe(Mustache.escape(every))
    expect(escapeHtml('nothing to do')).toBe('nothing to do')
  })

  it('renders null list items as empty contexts (mustache.js throws there)', () => {
    expect(renderTemplate('{{#list}}[{{a}}]{{/list}}', { a: 'outer', list: [null, { a: 'x' }] })).toBe('[outer][x]')
  })

  it('never prints inherited properties or functions (no lambdas)', () => {
    expect(renderTemplate('[{{constructor}}][{{toString}}]', {})).toBe('[][]')
    expect(renderTemplate('[{{fn}}]{{#fn}}yes{{/fn}}{{^fn}}no{{/fn}}', { fn: () => 'x' })).toBe('[]no')
  })

  it('follows mustache.js truthiness: 0, "" and empty lists are falsey', () => {
    const template = '{{#v}}T{{/v}}{{^v}}F{{/v}}'
    for (const value of [0, '', [], null, false, Number.NaN]) expect(renderTemplate(template, { v: value })).toBe('F')
    for (const value of [1, 'x', [1], {}, true]) expect(renderTemplate(template, { v: value })).toBe('T')
  })

  it('compiles each template once and reuses it', () => {
    const source = 'Hello {{who}} #' + Math.random()
    expect(compileTemplate(source)).toBe(compileTemplate(source))
    expect(compileTemplate('plain text').render({})).toBe('plain text')
    expect(compileTemplate('').render({})).toBe('')
  })

  it('renders the same bytes as mustache.js on random templates and data', () => {
    const name = fc.constantFrom('a', 'b', 'c', 'list')
    const text = fc.stringMatching(/^[a-z <&>"'\n\t=/]{0,6}$/)
    const node: fc.Memo<string> = fc.memo((depth) =>
      depth <= 1
        ? fc.oneof(
            text,
            name.map((n) => `{{${n}}}`),
            name.map((n) => `{{{${n}}}}`),
            name.map((n) => `{{& ${n} }}`),
          )
        : fc.oneof(
            { weight: 3, arbitrary: node(1) },
            fc
              .tuple(name, fc.array(node(depth - 1), { maxLength: 4 }), fc.boolean(), text)
              .map(
                ([n, inner, inverted, pad]) =>
                  `${pad}{{${inverted ? '^' : '#'}${n}}}${pad.includes('\n') ? '\n' : ''}${inner.join('')}{{/${n}}}`,
              ),
            fc.constant('{{.}}'),
            text.map((t) => `{{! ${t.replace(/[{}]/g, '')} }}`),
          ),
    )
    const template = fc.array(node(3), { maxLength: 6 }).map((parts) => parts.join(''))
    const scalar = fc.oneof(
      fc.string({ maxLength: 5 }),
      fc.integer({ min: -2, max: 99 }),
      fc.boolean(),
      fc.constant(null),
    )
    const listScalar = fc.oneof(fc.string({ maxLength: 5 }), fc.integer({ min: -2, max: 99 }), fc.boolean())
    const item = fc.record({ a: scalar, b: scalar }, { requiredKeys: [], noNullPrototype: true })
    const data = fc.record(
      // mustache.js throws on null list items (ours renders them as empty contexts), so lists hold none.
      { a: scalar, b: fc.oneof(scalar, item), c: scalar, list: fc.array(fc.oneof(item, listScalar), { maxLength: 3 }) },
      { requiredKeys: [], noNullPrototype: true },
    )
    fc.assert(
      fc.property(template, data, (source, values) => {
        expect(renderTemplate(source, values)).toBe(Mustache.render(source, values))
      }),
      { numRuns: 3000, seed: 20260801 },
    )
  })
})
