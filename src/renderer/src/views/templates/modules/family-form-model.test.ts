import { describe, expect, it } from 'vitest'
import { familyDefinitionSchema } from '../../../../../shared/contract'
import { blankForm, definitionOf, formOf, segmentTotal, validate } from './family-form-model'
import { orderShippedFamily } from '../../../stores/templates/order-shipped.fixture'

const definition = familyDefinitionSchema.parse(orderShippedFamily)

describe('the family form', () => {
  it('round-trips a family file unchanged', () => {
    expect(familyDefinitionSchema.parse(definitionOf(formOf(definition)))).toEqual(definition)
  })

  it('reports the contract’s problems with their field paths', () => {
    const form = formOf(definition)
    form.slots[1]!.name = 'name'
    form.segments[0]!.default = 'de'
    const issues = validate(form)
    expect(issues).toContainEqual({
      path: 'slots.1.name',
      message: '"name" is already slot 0; slot names must be unique',
    })
    expect(issues.map((issue) => issue.path)).toContain('segments.0.default')
  })

  it('counts segments as the product of the dimension values', () => {
    expect(segmentTotal(formOf(definition))).toBe(4)
    const blank = blankForm()
    expect(validate({ ...blank, name: 'welcome', prompt: 'Say hello.' })).toEqual([])
  })
})
