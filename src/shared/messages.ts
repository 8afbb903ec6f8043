/**
 * Messages the backend writes for people (job titles, job logs, template rejections, API errors, cache history
 * notes) as a key plus parameters, next to the English text. The CLI and logs print the English text; the console
 * translates the key (`locales/ko/messages.ts` has every key) and falls back to the English text for keys it does
 * not know, e.g. rows written by an older or newer Larder.
 *
 * Templates use `{name}` placeholders and no other braces (pass literal Mustache or JSON text as a parameter), and
 * avoid @ $ | so the same text is valid vue-i18n message syntax.
 */
export const MESSAGES = {
  // Job titles.
  'job.embedPlanning': 'Embed the logged prompts of namespace {namespace} for planning',
  'job.importRequestLog': 'Import request log {file}',
  'job.prewarmPlanned': 'Pre-warm {count} planned requests of namespace {namespace}',
  'job.prewarmTop': 'Pre-warm the top {count} uncached requests of namespace {namespace}',
  'job.importEntries': 'Import cache entries from {file}',
  'job.exportEntries': 'Export cache entries to {file}',
  'job.reembed': 'Re-embed cache namespace {namespace}',
  'job.runPipeline': 'Run pipeline {pipeline}',
  'job.exportBundle': 'Export CDN bundle {bundle}',
  'job.exportBundleIncremental': 'Export CDN bundle {bundle} (incremental)',
  'job.backup': 'Back up workspace to {file}',
  'job.restore': 'Restore workspace from {file}',
  'job.generateVariants': 'Generate template variants for family {family} with {target}',
  'job.download': 'Download {uri}',
  'job.hash': 'Hash model {model}',
  'job.compare': 'Compare model {quantized} with {original}',
  'job.quantize': 'Quantize model {model} to {type}',
  'job.sweep': 'Compare {types} of model {model}',
  'job.train': 'Train {run}',
  'job.demo': 'Load the demo workspace',

  // What the job runner writes to every job's log.
  'jobLog.started': 'Started.',
  'jobLog.resumed': 'Resumed (attempt {attempt}).',
  'jobLog.finished': 'Finished.',
  'jobLog.cancelled': 'Cancelled.',
  'jobLog.cancelledBeforeStart': 'Cancelled before it started.',
  'jobLog.cancelledByOperator': 'Cancelled by the operator.',
  'jobLog.pausedForShutdown': 'Paused because Larder shut down; it resumes at the next start.',
  'jobLog.stoppedForShutdown': 'Stopped because Larder shut down; this kind of job cannot resume. Start it again.',
  'jobLog.willResume': 'The process running this job stopped unexpectedly; it will resume (attempt {attempt}).',
  'jobLog.cancelledInCrash': 'Cancelled while the process running it stopped unexpectedly.',
  'jobLog.unknownKind':
    'Interrupted: the process running this job stopped unexpectedly, and this version of Larder cannot resume "{kind}" jobs.',
  'jobLog.gaveUp':
    'Interrupted {attempts} times by the process running it stopping unexpectedly; giving up. Check the logs, then start it again.',
  'jobLog.notResumable':
    'Interrupted: the process running this job stopped unexpectedly (crash or kill), and this kind of job cannot resume. Start it again.',

  // Why a generated or edited template variant was rejected.
  'template.truncatedOutput': 'The answer was cut off at {maxTokens} tokens; raise generation.maxTokens.',
  'template.invalidOutput': 'The answer is not the JSON {json} that was asked for.',
  'template.nearDuplicateRun': 'Too similar ({score}) to another answer in this run of this segment.',
  'template.nearDuplicateVariant': 'Too similar ({score}) to variant {variant} of this segment.',
  'template.setDelimiter': 'Set-delimiter tags ({tag}) are not allowed in templates; write slots as {example}.',
  'template.unknownSlot': '{tag} is not a slot of this family (slots: {slots}).',
  'template.unknownSlotSuggest': '{tag} is not a slot of this family (slots: {slots}). Did you mean {suggestion}?',
  'template.fallbackUnguarded':
    'In a fallback every slot must sit inside its own section, e.g. {open} ... {tag} ... {close}, because the fallback is used when data is missing.',
  'template.optionalUnguarded': '{tag} is optional: put it inside {open} ... {close} so a missing value leaves no gap.',
  'template.missingRequiredSlot': 'The required slot {tag} does not appear.',
  'template.requiredSlotInSection':
    'The required slot {tag} only appears inside a section, so some readers would not see it.',
  'template.duplicateSlot': '{tag} appears {count} times; use each slot once.',
  'template.brokenText':
    'It contains U+FFFD ({char}), the character that stands for broken UTF-8 (the model produced byte tokens that do not form a character): edit the text before approving it.',
  'template.tooLong': 'Filled with the longest examples it is {length} characters; the limit is {limit}.',
  'template.missingPhrase': 'It must include "{phrase}".',
  'template.bannedPhrase': 'It contains the banned phrase "{phrase}".',
  'template.rejectedByOperator': 'Rejected by the operator.',

  // API errors.
  'error.invalidInput': 'Invalid input: {detail}',
  'error.invalidInputAt': 'Invalid input at "{field}": {detail}',
  'error.unknownJobKind': 'Unknown job kind "{kind}".',
  'error.invalidJobParams': 'Invalid parameters for {kind}: {detail}',
  'error.jobNotFound': 'Job {id} does not exist.',
  'error.jobAlreadyFinished': 'Job {id} has already finished; there is nothing to cancel.',
  'error.jobAlreadyFailed': 'Job {id} has already failed; there is nothing to cancel.',
  'error.jobAlreadyCancelled': 'Job {id} has already cancelled; there is nothing to cancel.',
  'error.modelNotLoaded': '{model} is not loaded. Load it first (Models page or models.load).',
  'error.familyNotFound': 'Template family {id} does not exist.',

  // Cache entry history notes.
  'cacheNote.revertedTo': 'reverted to version {version}',
  'cacheNote.stateChange': 'state: {from} -> {to}',
} as const satisfies Record<string, string>

export type MessageKey = keyof typeof MESSAGES
export type MessageParams = Record<string, string | number>

/** A translatable message: the key, its parameters, and the English text the CLI and logs print. */
export interface Message {
  key: MessageKey
  params: MessageParams
  text: string
}

/** What is stored and sent next to the English text: the key and its parameters (see contract messageRefSchema). */
export interface MessageRef {
  key: string
  params: MessageParams
}

export function isMessageKey(key: string): key is MessageKey {
  return Object.hasOwn(MESSAGES, key)
}

/** Fills `{name}` placeholders; a placeholder without a parameter is left as written. */
export function fillTemplate(template: string, params: MessageParams): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    Object.hasOwn(params, name) ? String(params[name]) : whole,
  )
}

export function message(key: MessageKey, params: MessageParams = {}): Message {
  return { key, params, text: fillTemplate(MESSAGES[key], params) }
}

export function refOf(value: Message): MessageRef {
  return { key: value.key, params: value.params }
}

/** The placeholder names a template uses, for checking that a translation uses the same ones. */
export function placeholdersOf(template: string): string[] {
  return [...new Set([...template.matchAll(/\{(\w+)\}/g)].map((match) => match[1]!))].sort()
}
