/**
 * English text for LoRA adapters in the model library: the tag naming an adapter's base in the models table.
 * `ko/model-adapters.ts` has the same keys. vue-i18n syntax: {name} interpolates.
 */
const modelAdapters = {
  tag: 'LoRA on {base}',
  tooltip: 'A LoRA adapter: loading it loads {base} and applies the adapter to its context.',
}

export default modelAdapters
