/** A terminal progress bar for long CLI work; plain percentage lines when output is not a terminal. */
import cliProgress from 'cli-progress'
import type { Job } from '../shared/contract'

export interface ProgressReporter {
  update(job: Job): void
  stop(): void
}

export function jobProgressReporter(stream: NodeJS.WriteStream = process.stderr): ProgressReporter {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: ' {bar} {percentage}% | {message}',
        hideCursor: true,
        clearOnComplete: false,
        barsize: 30,
      },
      cliProgress.Presets.shades_classic,
    )
    bar.start(100, 0, { message: 'starting' })
    return {
      update: (job) =>
        bar.update(Math.round((job.progress ?? 0) * 100), { message: job.progressMessage ?? job.status }),
      stop: () => bar.stop(),
    }
  }
  let lastDecile = -1
  return {
    update: (job) => {
      const percent = Math.round((job.progress ?? 0) * 100)
      const decile = Math.floor(percent / 10)
      if (decile > lastDecile) {
        lastDecile = decile
        stream.write(`${percent}% ${job.progressMessage ?? job.status}\n`)
      }
    },
    stop: () => {},
  }
}
