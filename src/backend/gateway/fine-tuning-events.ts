/**
 * The events of one fine-tuning job, as OpenAI lists them: the Larder job's log lines (`type: 'message'`) and the
 * run's training points (`type: 'metrics'`, `data: { step, total_steps, train_loss, train_mean_token_accuracy,
 * valid_loss?, valid_mean_token_accuracy? }`), merged oldest first, then listed newest first.
 *
 * Points carry no timestamp, so each metrics event is anchored after a log line: the first time a server lists a
 * job, a point goes just before the log line of the first checkpoint at or after its step (points are flushed before
 * a checkpoint is logged), else after the last line; later points go after the last line at the time they are first
 * listed. Anchors are remembered, so the list only ever grows at its newest end, which is what a client that stops
 * paging at the first event it has seen needs. Training points are thinned to at most MAX_METRICS evenly spaced
 * steps (a fixed stride from the run's total steps, so the set does not shift), plus the last one once the job ends.
 */
import type { JobLog, TrainPointView } from '../../shared/contract'

export const MAX_METRICS = 200

export interface FtEvent {
  id: string
  object: 'fine_tuning.job.event'
  created_at: number | null
  level: 'info' | 'warn' | 'error'
  message: string
  type: 'message' | 'metrics'
  data?: Record<string, number>
}

interface Metric {
  step: number
  data: Record<string, number>
  message: string
}

export interface EventSources {
  /** Names the job among every workspace this process serves (the anchors' key). */
  key: string
  ftJobId: number
  logs: JobLog[]
  points: TrainPointView[]
  checkpoints: { step: number; createdAt: string }[]
  totalSteps: number | null
  terminal: boolean
}

/** job key -> (step -> the log seq its metrics event follows). In memory: a restarted server anchors again. */
const anchors = new Map<string, Map<number, number>>()

const seconds = (iso: string | undefined): number | null => (iso ? Math.floor(Date.parse(iso) / 1000) : null)

function metricOf(point: TrainPointView, evaluation: TrainPointView | undefined, total: number): Metric {
  const data: Record<string, number> = { step: point.step, total_steps: total, train_loss: point.loss! }
  if (point.accuracy !== null) data.train_mean_token_accuracy = point.accuracy
  let message = `Step ${point.step}/${total}: training loss=${point.loss!.toFixed(2)}`
  if (evaluation?.valLoss !== null && evaluation?.valLoss !== undefined) {
    data.valid_loss = evaluation.valLoss
    message += `, validation loss=${evaluation.valLoss.toFixed(2)}`
  }
  if (evaluation?.valAccuracy !== null && evaluation?.valAccuracy !== undefined) {
    data.valid_mean_token_accuracy = evaluation.valAccuracy
  }
  return { step: point.step, data, message }
}

/** The run's training points thinned to a fixed stride, each with the evaluation at its step (if any). */
export function metricsOf(points: TrainPointView[], totalSteps: number | null, terminal: boolean): Metric[] {
  const train = new Map<number, TrainPointView>()
  const evaluations = new Map<number, TrainPointView>()
  for (const point of points) {
    if (point.loss !== null && point.step > 0) train.set(point.step, point)
    else if (point.loss === null && point.valLoss !== null) evaluations.set(point.step, point)
  }
  const steps = [...train.keys()].sort((a, b) => a - b)
  const last = steps.at(-1)
  const total = Math.max(totalSteps ?? 0, last ?? 0)
  const stride = Math.max(1, Math.ceil(total / MAX_METRICS))
  return steps
    .filter((step) => step % stride === 0 || step === total || (terminal && step === last))
    .map((step) => metricOf(train.get(step)!, evaluations.get(step), total))
}

/** The log seq a point's event follows the first time this job is listed: before its checkpoint's log line. */
function firstAnchor(step: number, sources: EventSources, lastSeq: number): number {
  const checkpoint = sources.checkpoints.find((entry) => entry.step >= step)
  const line = checkpoint ? sources.logs.find((log) => log.at >= checkpoint.createdAt) : undefined
  return line ? line.seq - 1 : lastSeq
}

function anchorsFor(metrics: Metric[], sources: EventSources): Map<number, number> {
  const first = !anchors.has(sources.key)
  const known = anchors.get(sources.key) ?? new Map<number, number>()
  anchors.set(sources.key, known)
  const lastSeq = sources.logs.at(-1)?.seq ?? 0
  let floor = 0
  for (const metric of metrics) {
    if (!known.has(metric.step)) {
      known.set(metric.step, Math.max(floor, first ? firstAnchor(metric.step, sources, lastSeq) : lastSeq))
    }
    floor = Math.max(floor, known.get(metric.step)!)
  }
  return known
}

/** All events, newest first. */
export function jobEvents(sources: EventSources): FtEvent[] {
  const metrics = metricsOf(sources.points, sources.totalSteps, sources.terminal)
  const anchored = anchorsFor(metrics, sources)
  const atOf = new Map(sources.logs.map((log) => [log.seq, log.at]))
  const keyed: { key: [number, number, number]; event: FtEvent }[] = sources.logs.map((log) => ({
    key: [log.seq, 0, 0],
    event: {
      id: `ftevent-${sources.ftJobId}-${log.seq}`,
      object: 'fine_tuning.job.event',
      created_at: seconds(log.at),
      level: log.level === 'error' ? 'error' : log.level === 'warn' ? 'warn' : 'info',
      message: log.message,
      type: 'message',
    },
  }))
  for (const metric of metrics) {
    const anchor = anchored.get(metric.step)!
    keyed.push({
      key: [anchor, 1, metric.step],
      event: {
        id: `ftevent-${sources.ftJobId}-m${metric.step}`,
        object: 'fine_tuning.job.event',
        created_at: seconds(atOf.get(anchor) ?? sources.logs[0]?.at),
        level: 'info',
        message: metric.message,
        type: 'metrics',
        data: metric.data,
      },
    })
  }
  keyed.sort((a, b) => b.key[0] - a.key[0] || b.key[1] - a.key[1] || b.key[2] - a.key[2])
  return keyed.map((entry) => entry.event)
}

/** One page, newest first: `after` (an event id) starts after that event; an unknown id starts at the newest. */
export function eventsPage(events: FtEvent[], limit: number, after: string | null) {
  const start = after ? events.findIndex((event) => event.id === after) + 1 : 0
  const rest = events.slice(start)
  const data = rest.slice(0, limit)
  return {
    object: 'list' as const,
    data,
    has_more: rest.length > limit,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
  }
}
