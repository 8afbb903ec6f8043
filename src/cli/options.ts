/** Small pieces shared by the CLI's command modules. */
import { InvalidArgumentError } from 'commander'

/** Thrown by a command to end with a specific exit code after it has printed its own message. */
export class CliExit extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`)
  }
}

export function positiveInt(value: string): number {
  const parsed = Number(value)
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError('must be a positive whole number')
  return parsed
}
