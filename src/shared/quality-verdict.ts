/**
 * The verdict on a quantized model's quality report, in words: a level from KL divergence and top-1 agreement (the
 * usual reading of llama.cpp's perplexity tool), and the reasons behind it, each a code with parameters (the console
 * translates it) and an English sentence (the CLI prints it). The reasons explain what the numbers mean together,
 * e.g. why 84% top-1 agreement is a noticeable loss even when perplexity moved by 0.1%.
 */

export interface QualityNumbers {
  positions: number
  meanKlDivergence: number
  maxKlDivergence: number
  top1Agreement: number
  original: { perplexity: number }
  quantized: { perplexity: number }
}

export type VerdictLevel = 'excellent' | 'good' | 'noticeable' | 'large'

export type VerdictReasonCode =
  'kl' | 'top1' | 'perplexity-flat' | 'perplexity-up' | 'perplexity-down' | 'top1-vs-perplexity' | 'few-positions'

export interface VerdictReason {
  code: VerdictReasonCode
  params: Record<string, number>
  message: string
}

export interface QualityVerdict {
  level: VerdictLevel
  reasons: VerdictReason[]
}

/** Fewer scored positions than this make every figure rough (a few hundred tokens are the minimum worth reading). */
const FEW_POSITIONS = 200

export function qualityLevel(kl: number, top1: number): VerdictLevel {
  if (kl < 0.01 && top1 >= 0.95) return 'excellent'
  if (kl < 0.05 && top1 >= 0.85) return 'good'
  if (kl < 0.2) return 'noticeable'
  return 'large'
}

const percent = (value: number, digits = 1): string => `${(value * 100).toFixed(digits)}%`

function klReason(kl: number, level: VerdictLevel): VerdictReason {
  const words =
    level === 'excellent'
      ? 'the two models predict practically the same next-token probabilities'
      : kl < 0.05
        ? 'the next-token probabilities differ a little'
        : kl < 0.2
          ? 'the next-token probabilities differ clearly'
          : 'the next-token probabilities differ a lot'
  return {
    code: 'kl',
    params: { kl },
    message: `Mean KL divergence ${kl.toPrecision(3)}: ${words} (below 0.01 is practically lossless, above 0.2 is a large loss).`,
  }
}

function top1Reason(top1: number): VerdictReason {
  const differs = 1 - top1
  const oneIn = differs > 0 ? Math.max(1, Math.round(1 / differs)) : 0
  return {
    code: 'top1',
    params: { top1, differs, oneIn },
    message:
      differs > 0
        ? `Top-1 agreement ${percent(top1)}: the quantized model's most likely next token differs at ${percent(differs)} of positions (about 1 in ${oneIn}), so greedy (temperature 0) answers drift apart from there.`
        : `Top-1 agreement 100%: the most likely next token is the same at every position scored.`,
  }
}

function perplexityReason(change: number): VerdictReason {
  const params = { change }
  const shown = `${change >= 0 ? '+' : ''}${percent(change, 2)}`
  if (Math.abs(change) < 0.01)
    return {
      code: 'perplexity-flat',
      params,
      message: `Perplexity ${shown}: on this text the quantized model is about as confident about the right token as the original.`,
    }
  if (change > 0)
    return {
      code: 'perplexity-up',
      params,
      message: `Perplexity ${shown}: the quantized model is less sure of the right token than the original.`,
    }
  return {
    code: 'perplexity-down',
    params,
    message: `Perplexity ${shown}: lower than the original's on this text, which is noise of the sample, not a gain.`,
  }
}

export function qualityVerdict(quality: QualityNumbers): QualityVerdict {
  const { meanKlDivergence: kl, top1Agreement: top1, positions } = quality
  const level = qualityLevel(kl, top1)
  const reasons = [klReason(kl, level), top1Reason(top1)]
  const change = quality.original.perplexity > 0 ? quality.quantized.perplexity / quality.original.perplexity - 1 : null
  if (change !== null && Number.isFinite(change)) {
    reasons.push(perplexityReason(change))
    if (Math.abs(change) < 0.01 && top1 < 0.95)
      reasons.push({
        code: 'top1-vs-perplexity',
        params: { change, top1 },
        message:
          'Perplexity averages how sure each model is of the right token, so small changes cancel out; top-1 agreement counts where their first choice differs. A flat perplexity with lower agreement means the answers will read differently, not that the quantized model is worse at the text overall.',
      })
  }
  if (positions < FEW_POSITIONS)
    reasons.push({
      code: 'few-positions',
      params: { positions, minimum: FEW_POSITIONS },
      message: `Only ${positions} positions were scored: run a fuller comparison on your own text (a few thousand tokens) before relying on these figures.`,
    })
  return { level, reasons }
}

export const VERDICT_WORDS: Record<VerdictLevel, string> = {
  excellent: 'practically lossless',
  good: 'small loss',
  noticeable: 'noticeable loss',
  large: 'large loss',
}
