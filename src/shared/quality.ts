/**
 * The plain verdict on a quantized model's quality report, from its mean KL divergence against the original and
 * top-1 agreement; the thresholds are llama.cpp's usual reading of those numbers. The console shows it, and the
 * distillation tests hold a student's quantized copy to it ("passes" = good or excellent).
 */
export type QualityVerdict = 'excellent' | 'good' | 'noticeable' | 'large'

export function qualityVerdict(quality: { meanKlDivergence: number; top1Agreement: number }): QualityVerdict {
  const { meanKlDivergence: kl, top1Agreement: top1 } = quality
  if (kl < 0.01 && top1 >= 0.95) return 'excellent'
  if (kl < 0.05 && top1 >= 0.85) return 'good'
  if (kl < 0.2) return 'noticeable'
  return 'large'
}
