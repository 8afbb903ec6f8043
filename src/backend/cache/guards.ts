/**
 * Guards against the known false hits of semantic caching: two requests can embed almost identically yet want
 * opposite answers ("enable 2FA" vs "disable 2FA", "refund order 123" vs "refund order 456"). A semantic match is
 * served only if every enabled guard agrees the two texts ask the same thing.
 */

/** Word pairs whose members flip the meaning of an otherwise identical request. */
const POLAR_PAIRS: [string, string][] = [
  ['enable', 'disable'],
  ['activate', 'deactivate'],
  ['allow', 'disallow'],
  ['allow', 'deny'],
  ['add', 'remove'],
  ['install', 'uninstall'],
  ['subscribe', 'unsubscribe'],
  ['connect', 'disconnect'],
  ['lock', 'unlock'],
  ['show', 'hide'],
  ['start', 'stop'],
  ['open', 'close'],
  ['on', 'off'],
  ['increase', 'decrease'],
  ['include', 'exclude'],
  ['accept', 'reject'],
  ['accept', 'decline'],
  ['block', 'unblock'],
  ['follow', 'unfollow'],
  ['mute', 'unmute'],
  ['pin', 'unpin'],
  ['archive', 'unarchive'],
  ['encrypt', 'decrypt'],
  ['upgrade', 'downgrade'],
  ['before', 'after'],
  ['import', 'export'],
  ['upload', 'download'],
  ['buy', 'sell'],
  ['min', 'max'],
  ['minimum', 'maximum'],
]

const NEGATIONS = new Set([
  'not',
  'no',
  'never',
  'none',
  'nothing',
  'without',
  "don't",
  'dont',
  "doesn't",
  'doesnt',
  "didn't",
  "can't",
  'cant',
  'cannot',
  "won't",
  'wont',
  "isn't",
  "aren't",
  "shouldn't",
  "wouldn't",
  "couldn't",
])

/** Each word's pairs, keyed "positive/negative", with the side it is on. A word may be in several pairs. */
const polarity = new Map<string, { pair: string; sign: 1 | -1 }[]>()
for (const [positive, negative] of POLAR_PAIRS) {
  const pair = `${positive}/${negative}`
  polarity.set(positive, [...(polarity.get(positive) ?? []), { pair, sign: 1 }])
  polarity.set(negative, [...(polarity.get(negative) ?? []), { pair, sign: -1 }])
}

function words(text: string): string[] {
  return text
    .toLowerCase()
    .normalize('NFKC')
    .split(/[^\p{L}\p{N}']+/u)
    .filter(Boolean)
}

/** Crude English stemming, enough to make "enabling", "enabled" and "enables" count as "enable". */
function stem(word: string): string {
  for (const suffix of ['ing', 'ed', 'es', 's']) {
    if (word.length > suffix.length + 2 && word.endsWith(suffix)) {
      const base = word.slice(0, -suffix.length)
      if (polarity.has(base)) return base
      if (polarity.has(`${base}e`)) return `${base}e`
    }
  }
  return word
}

function polaritySignature(text: string): { negations: number; polar: Map<string, number> } {
  let negations = 0
  const polar = new Map<string, number>()
  for (const word of words(text)) {
    if (NEGATIONS.has(word) || word.endsWith("n't")) negations++
    for (const { pair, sign } of polarity.get(stem(word)) ?? []) polar.set(pair, (polar.get(pair) ?? 0) + sign)
  }
  return { negations, polar }
}

export function negationGuardRefuses(a: string, b: string): boolean {
  const left = polaritySignature(a)
  const right = polaritySignature(b)
  if (left.negations % 2 !== right.negations % 2) return true
  for (const [pair, value] of left.polar) {
    const other = right.polar.get(pair)
    if (other !== undefined && Math.sign(other) !== Math.sign(value)) return true
  }
  for (const [pair, value] of right.polar) {
    if (!left.polar.has(pair) && value !== 0) {
      // One side names an action the other does not mention at all: only refuse when it is the negative member.
      if (value < 0) return true
    }
  }
  for (const [pair, value] of left.polar) {
    if (!right.polar.has(pair) && value < 0) return true
  }
  return false
}

function numbers(text: string): string[] {
  return (text.match(/\d+(?:[.,]\d+)*/g) ?? []).map((n) => n.replace(/,/g, '')).sort()
}

export function numberGuardRefuses(a: string, b: string): boolean {
  const left = numbers(a)
  const right = numbers(b)
  return left.length !== right.length || left.some((value, i) => value !== right[i])
}

export interface GuardSettings {
  negation: boolean
  numbers: boolean
}

/** The name of the first guard that refuses the match, or null when the match may be served. */
export function refusingGuard(request: string, candidate: string, guards: GuardSettings): string | null {
  if (guards.numbers && numberGuardRefuses(request, candidate)) return 'numbers'
  if (guards.negation && negationGuardRefuses(request, candidate)) return 'negation'
  return null
}
