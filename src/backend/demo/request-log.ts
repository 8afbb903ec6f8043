/**
 * A realistic request log for the demo: the support questions of the corpus (and some rephrasings of them, the long
 * tail), asked with Zipf-distributed frequency over the last two weeks, as the JSONL `cache.log.import` reads. A
 * few requests make most of the traffic, so the Cache page's coverage curve rises steeply and then flattens.
 */
import { createSeededRandom } from '../gguf/tiny-model'
import { PARAPHRASE_PREFIXES_EN, PARAPHRASE_PREFIXES_KO, SUPPORT_EN, SUPPORT_KO } from './corpus'

export const DEMO_MODEL_NAME = 'demo-support'

/** How customers phrase one question: as written, with a greeting or lead-in, and typed lowercase without the mark. */
export function questionPhrasings(question: string): string[] {
  const prefixes = /[가-힣]/.test(question) ? PARAPHRASE_PREFIXES_KO : PARAPHRASE_PREFIXES_EN
  const phrasings = prefixes.map((prefix) => `${prefix}${question}`)
  phrasings.push(question.toLowerCase().replace(/[?.!]$/, ''))
  return [...new Set(phrasings)]
}

/** Every distinct question in popularity order: the corpus questions first, then their rephrasings. */
export function demoQuestions(): string[] {
  const base = [...SUPPORT_EN, ...SUPPORT_KO].map((pair) => pair.question)
  const random = createSeededRandom(2024)
  // Interleave languages so both are near the head of the distribution.
  const ordered: string[] = []
  for (let index = 0; index < SUPPORT_EN.length; index++) {
    ordered.push(SUPPORT_EN[index]!.question)
    if (SUPPORT_KO[index]) ordered.push(SUPPORT_KO[index]!.question)
  }
  const tail = base.flatMap((question) => questionPhrasings(question).filter((phrasing) => phrasing !== question))
  for (let index = tail.length - 1; index > 0; index--) {
    const other = Math.floor(random() * (index + 1))
    ;[tail[index], tail[other]] = [tail[other]!, tail[index]!]
  }
  return [...new Set([...ordered, ...tail])]
}

/** Draws `count` requests with probability proportional to 1 / rank^exponent. */
export function zipfSample(items: readonly string[], count: number, seed: number, exponent = 1.1): string[] {
  const weights = items.map((_, rank) => 1 / Math.pow(rank + 1, exponent))
  const total = weights.reduce((sum, weight) => sum + weight, 0)
  const cumulative: number[] = []
  let running = 0
  for (const weight of weights) cumulative.push((running += weight / total))
  const random = createSeededRandom(seed)
  return Array.from({ length: count }, () => {
    const draw = random()
    let low = 0
    let high = cumulative.length - 1
    while (low < high) {
      const middle = (low + high) >> 1
      if (cumulative[middle]! < draw) low = middle + 1
      else high = middle
    }
    return items[low]!
  })
}

/** The log as JSONL lines spread over the last `days` days. */
export function demoRequestLog(lines: number, now = Date.now(), days = 14): string {
  const questions = zipfSample(demoQuestions(), lines, 99)
  const random = createSeededRandom(7)
  return questions
    .map((question) =>
      JSON.stringify({
        model: DEMO_MODEL_NAME,
        messages: [{ role: 'user', content: question }],
        timestamp: new Date(now - random() * days * 86_400_000).toISOString(),
      }),
    )
    .join('\n')
    .concat('\n')
}
