/** test/data/templates/order-shipped.json, for the console's unit tests (which cannot read files). */
export const orderShippedFamily = {
  formatVersion: 1,
  name: 'order-shipped',
  purpose: 'Tell a customer that their order has shipped.',
  prompt: 'You write short, warm transactional messages for an online tea shop.',
  slots: [
    {
      name: 'name',
      type: 'text',
      required: true,
      maxLength: 40,
      examples: ['Mina', 'Alexandria'],
    },
    {
      name: 'product',
      type: 'text',
      required: true,
      maxLength: 60,
      examples: ['Jasmine tea', 'Earl Grey, 250 g'],
    },
    {
      name: 'date',
      type: 'date',
      required: false,
      maxLength: 30,
      examples: ['Tuesday, March 3'],
    },
  ],
  segments: [
    {
      name: 'locale',
      values: ['en', 'ko'],
      default: 'en',
    },
    {
      name: 'tone',
      values: ['friendly', 'formal'],
    },
  ],
  variantsPerSegment: 3,
  constraints: {
    maxLength: 140,
    banned: ['guarantee'],
    nearDuplicateThreshold: 0.85,
  },
  generation: {
    target: {
      provider: 'template-writer',
    },
    temperature: 0.9,
    maxTokens: 120,
  },
  fallbacks: [
    {
      when: {
        locale: 'ko',
      },
      template: '{{#name}}{{name}}님, {{/name}}주문하신 상품이 발송되었습니다.',
    },
    {
      when: {
        tone: 'friendly',
      },
      template: '{{#name}}Hi {{name}}, y{{/name}}{{^name}}Y{{/name}}our order is on its way.',
    },
  ],
}
