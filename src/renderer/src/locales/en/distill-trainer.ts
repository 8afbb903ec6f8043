/**
 * English text of the train form's trainer choice (built-in, external command, fine-tuning API) and of a run
 * trained through a fine-tuning API. `ko/distill-trainer.ts` has the same keys. vue-i18n syntax: {name}
 * interpolates; avoid @ $ | and braces in plain text.
 */
const distillTrainer = {
  trainer: 'Trainer',
  builtin: 'Built-in',
  command: 'External command',
  api: 'Fine-tuning API',
  builtinHint: 'llama.cpp’s training API on this machine; the result is a GGUF in the library.',
  commandLabel: 'Command template',
  commandHint:
    'TRL, Axolotl, LLaMA-Factory or anything speaking the JSON-lines progress protocol; placeholders are listed in docs/distillation.md.',
  apiHint:
    'Uploads the data to an OpenAI-compatible fine-tuning API (OpenAI, or another Larder’s gateway) and follows the remote job. The result is a remote model, registered as a new provider.',
  provider: 'Provider',
  providerHint: 'Its base URL and key reach the fine-tuning API; the fine-tuned model gets a provider like it.',
  noProviders: 'No provider is configured yet (Models page, Providers).',
  remoteModel: 'Base model at the remote',
  remoteModelHint: 'Empty: the provider’s model ({model}).',
  suffix: 'Suffix',
  suffixHint: 'Part of the fine-tuned model’s name (letters, digits, dot, dash, underscore).',
  apiChat: 'The data must be chat JSONL; the held-out share is sent as the validation file.',
  remoteResult: 'Remote model {model} (job {job}), served by provider {provider}.',
  openProvider: 'Open the provider',
}

export default distillTrainer
