/**
 * English text for a quantized model's kept quality report: the verdict's reasons in words (codes from
 * src/shared/quality-verdict.ts), the models table's column and the details drawer's section. `ko/model-quality.ts`
 * has the same keys. vue-i18n syntax: {name} interpolates; avoid @ $ | and braces in plain text.
 */
const modelQuality = {
  column: 'Quality',
  none: '—',
  columnTooltip: 'Against {original}: top-1 agreement {top1}, perplexity {change}',
  section: 'Quality against {original}',
  measured:
    'Measured {when} on {text} ({positions} positions). Run a fuller comparison in the original model’s details.',
  text: { sample: 'the built-in sample text', custom: 'your text' },
  whyTitle: 'What the numbers say',
  reason: {
    kl: 'Mean KL divergence {kl}: {words} (below 0.01 is practically lossless, above 0.2 a large loss).',
    klWords: {
      excellent: 'both models predict practically the same next-token probabilities',
      small: 'the next-token probabilities differ a little',
      clear: 'the next-token probabilities differ clearly',
      large: 'the next-token probabilities differ a lot',
    },
    top1: 'Top-1 agreement {top1}: the quantized model’s most likely next token differs at {differs} of positions (about 1 in {oneIn}), so greedy (temperature 0) answers drift apart from there.',
    top1All: 'Top-1 agreement 100%: the most likely next token is the same at every position scored.',
    perplexityFlat:
      'Perplexity {change}: on this text the quantized model is about as confident about the right token as the original.',
    perplexityUp: 'Perplexity {change}: the quantized model is less sure of the right token than the original.',
    perplexityDown:
      'Perplexity {change}: lower than the original’s on this text, which is noise of the sample, not a gain.',
    top1VsPerplexity:
      'Perplexity averages how sure each model is of the right token, so small changes cancel out; top-1 agreement counts where their first choice differs. A flat perplexity with lower agreement means the answers will read differently, not that the quantized model is worse at the text overall.',
    fewPositions:
      'Only {positions} positions were scored: run a fuller comparison on your own text (a few thousand tokens) before relying on these figures.',
  },
}

export default modelQuality
