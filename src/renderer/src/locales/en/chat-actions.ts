/** English text of the Playground's per-answer actions. `ko/chat-actions.ts` has the same keys. */
const chatActions = {
  copy: 'Copy',
  copied: 'Copied.',
  copyFailed: 'Could not copy: {message}',
  presets: 'Presets',
  presetPlaceholder: 'Start from a preset',
  preset: {
    assistant: 'You are a helpful assistant. Answer briefly and accurately.',
    support:
      'You are a customer support agent for an online shop. Be friendly, answer in two or three sentences, and ask for the order number when it is needed.',
    json: 'Answer only with JSON that matches the requested schema. No prose.',
    translator: 'Translate the user message into Korean. Keep names, numbers and formatting unchanged.',
  },
  presetNames: {
    assistant: 'Helpful assistant',
    support: 'Support agent',
    json: 'JSON only',
    translator: 'Translator (to Korean)',
  },
  regenerate: 'Regenerate',
}

export default chatActions
