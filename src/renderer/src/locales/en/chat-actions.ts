/** English text of the Playground's per-answer actions. `ko/chat-actions.ts` has the same keys. */
const chatActions = {
  copy: 'Copy',
  copied: 'Copied.',
  copyFailed: 'Could not copy: {message}',
  regenerate: 'Regenerate',
}

export default chatActions
