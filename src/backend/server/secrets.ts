/** Comparing secrets (serve token, session cookies, the gateway's admin token) without leaking them through timing. */
import { createHash, timingSafeEqual } from 'node:crypto'

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest()
}

/** Constant-time comparison (hashing first makes the lengths equal, so the length leaks nothing either). */
export function secretsEqual(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected))
}
