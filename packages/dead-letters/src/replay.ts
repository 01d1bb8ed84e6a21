import type { Producer } from 'kafkajs'
import type { Logger } from 'pino'
import { replayedMessage, type DeadLetterReplay } from '@opsreview/kafka/dead-letter'
import { kafkaErrorType, RECORD_REFUSALS } from '@opsreview/kafka/errors'
import { ReplayFailedError } from './errors.ts'
import type { DeadLetter } from './record.ts'

/** Where replays go. Each call resolves once the target has the record, or throws ReplayFailedError. */
export interface ReplayTargets {
  record(replay: Extract<DeadLetterReplay, { kind: 'record' }>): Promise<void>
  webhook(replay: Extract<DeadLetterReplay, { kind: 'webhook' }>): Promise<void>
}

export type ReplayOutcome =
  | { deadLetter: DeadLetter; outcome: 'replayed' | 'would-replay'; target: string }
  | { deadLetter: DeadLetter; outcome: 'failed'; target: string; error: string; retriable: boolean; status?: number | undefined }
  | { deadLetter: DeadLetter; outcome: 'not-replayable'; why: string }
  | { deadLetter: DeadLetter; outcome: 'duplicate'; target: string; sameAs: string }

export interface ReplayReport {
  matched: number
  replayed: number
  failed: number
  notReplayable: number
  duplicates: number
  dryRun: boolean
  outcomes: ReplayOutcome[]
}

export const deadLetterId = (dl: DeadLetter) => `${dl.topic}/${dl.partition}@${dl.offset}`

export const replayTarget = (r: DeadLetterReplay): string => (r.kind === 'record' ? `topic ${r.topic}` : `receiver ${r.path}`)

const bytesId = (v: Buffer | string | null | undefined): string | null => (v === null || v === undefined ? null : Buffer.from(v).toString('base64'))

// Two dead letters of the same input (dead-lettered again after a replay that failed) are sent once per run.
// A record by the bytes it puts back: a letter of the older all-base64 shape and one written since of the
// same record are the same input.
function payloadId(r: DeadLetterReplay): string {
  if (r.kind === 'webhook') return JSON.stringify([r.kind, r.path, r.body])
  const m = replayedMessage(r)
  const headers = Object.entries(m.headers ?? {}).map(([name, v]) => [name, (Array.isArray(v) ? v : [v]).map(bytesId)])
  return JSON.stringify([r.kind, r.topic, bytesId(m.key), bytesId(m.value), headers])
}

/**
 * Puts the selected dead letters back, in the order given (topic, partition, offset). Once a target
 * turns out unavailable (Kafka down, receiver unreachable or 5xx) the rest bound for it are reported as
 * failed without trying, so an outage does not cost one timeout per dead letter.
 */
export async function replayDeadLetters(deadLetters: readonly DeadLetter[], opts: { targets: ReplayTargets; dryRun: boolean; logger: Logger; compactedTopics?: ReadonlySet<string>; signal?: AbortSignal | undefined }): Promise<ReplayReport> {
  const outcomes: ReplayOutcome[] = []
  // Each input tried in this run: the first dead letter of it, and how it failed if it did.
  const seen = new Map<string, { id: string; failed?: { error: string; retriable: boolean; status: number | undefined } }>()
  const down = new Map<DeadLetterReplay['kind'], ReplayFailedError>()
  for (const dl of deadLetters) {
    // Between two letters, never within one: a letter is sent whole or not at all, and replaying is safe to repeat.
    opts.signal?.throwIfAborted()
    const replay = dl.replay
    if (!replay) {
      outcomes.push({ deadLetter: dl, outcome: 'not-replayable', why: dl.notReplayable ?? 'no replay in the record' })
      continue
    }
    if (replay.kind === 'record' && opts.compactedTopics?.has(replay.topic)) {
      // The letter's record came from that topic, which keeps the newest record of each key: appended again,
      // an old incident or problem version would replace a newer one there for good.
      outcomes.push({ deadLetter: dl, outcome: 'not-replayable', why: `topic ${replay.topic} is compacted: it still holds this record or a newer version of it, which this one appended now would replace; re-index from the topic instead (pnpm opsreview reindex)` })
      continue
    }
    const target = replayTarget(replay)
    const id = payloadId(replay)
    const first = seen.get(id)
    if (first?.failed) {
      // Its input failed (or was not tried) a moment ago: not sent again, and failed like it.
      const { error, retriable, status } = first.failed
      outcomes.push({ deadLetter: dl, outcome: 'failed', target, error: `same input as ${first.id}, not sent again: ${error}`, retriable, status })
      continue
    }
    if (first !== undefined) {
      outcomes.push({ deadLetter: dl, outcome: 'duplicate', target, sameAs: first.id })
      continue
    }
    if (opts.dryRun) {
      seen.set(id, { id: deadLetterId(dl) })
      outcomes.push({ deadLetter: dl, outcome: 'would-replay', target })
      continue
    }
    const unavailable = down.get(replay.kind)
    if (unavailable) {
      const failed = { error: `not tried: ${unavailable.message}`, retriable: true, status: undefined }
      seen.set(id, { id: deadLetterId(dl), failed })
      outcomes.push({ deadLetter: dl, outcome: 'failed', target, ...failed })
      continue
    }
    try {
      if (replay.kind === 'record') await opts.targets.record(replay)
      else await opts.targets.webhook(replay)
      // Only an input the target has counts as replayed for the duplicates that follow.
      seen.set(id, { id: deadLetterId(dl) })
      outcomes.push({ deadLetter: dl, outcome: 'replayed', target })
    } catch (err) {
      const failure = err instanceof ReplayFailedError ? err : new ReplayFailedError(String((err as Error)?.message ?? err), false, { cause: err })
      if (failure.retriable) down.set(replay.kind, failure)
      // The report names every failure; the log keeps the cause's stack for whoever runs with debug.
      opts.logger.debug({ deadLetter: deadLetterId(dl), target, err: failure }, 'replay failed')
      const failed = { error: failure.message, retriable: failure.retriable, status: failure.status }
      seen.set(id, { id: deadLetterId(dl), failed })
      outcomes.push({ deadLetter: dl, outcome: 'failed', target, ...failed })
    }
  }
  const count = (...kinds: ReplayOutcome['outcome'][]) => outcomes.filter((o) => kinds.includes(o.outcome)).length
  return {
    matched: deadLetters.length,
    replayed: count('replayed', 'would-replay'),
    failed: count('failed'),
    notReplayable: count('not-replayable'),
    duplicates: count('duplicate'),
    dryRun: opts.dryRun,
    outcomes,
  }
}

/** Record replays: back to their topic with their key and value, acknowledged by every in-sync replica. */
export function kafkaRecordTarget(producer: Producer): ReplayTargets['record'] {
  return async (replay) => {
    try {
      await producer.send({ topic: replay.topic, acks: -1, messages: [replayedMessage(replay)] })
    } catch (err) {
      throw classifyKafkaFailure(err)
    }
  }
}

/**
 * Besides a refused record, what a replay cannot get past by waiting: its target topic is gone (a replay
 * never creates one), not a topic, or not ours to write.
 */
const REPLAY_TARGET_REFUSALS: ReadonlySet<string> = new Set([...RECORD_REFUSALS, 'UNKNOWN_TOPIC_OR_PARTITION', 'TOPIC_AUTHORIZATION_FAILED', 'INVALID_TOPIC_EXCEPTION'])

/** A record Kafka refuses for what it is fails again; anything else is Kafka being unavailable. */
export function classifyKafkaFailure(err: unknown): ReplayFailedError {
  const type = kafkaErrorType(err, REPLAY_TARGET_REFUSALS)
  if (type) return new ReplayFailedError(`Kafka refused the record: ${type}`, false, { cause: err })
  return new ReplayFailedError(`Kafka is unavailable: ${(err as Error)?.message ?? String(err)}`, true, { cause: err })
}

/**
 * Webhook replays: POSTed to the receiver as the sender would, so the fixed validation and mapping run
 * on them. 2xx is done, except for an Alertmanager notification whose alerts the receiver still refuses
 * (it answers those 200 and lists them): that fails again, as does a 4xx (the receiver dead-letters it
 * again); 5xx, 429 and network errors mean the receiver is unavailable.
 */
export function receiverWebhookTarget(opts: { receiverUrl: string; token: string; timeoutMs?: number }): ReplayTargets['webhook'] {
  const base = new URL(opts.receiverUrl)
  return async (replay) => {
    const url = webhookUrl(base, replay.path)
    let res: Response
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${opts.token}` },
        body: replay.body,
        signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
      })
    } catch (err) {
      throw new ReplayFailedError(`receiver unreachable at ${base.origin}: ${(err as Error).message}`, true, { cause: err })
    }
    const text = await res.text().catch(() => '')
    if (res.ok) {
      const refused = replay.path.split('?')[0] === ALERTMANAGER_PATH ? alertmanagerRefusal(text, replay.body) : undefined
      if (refused) throw new ReplayFailedError(`receiver answered ${res.status} but ${refused}`, false, { status: res.status })
      return
    }
    throw new ReplayFailedError(`receiver answered ${res.status}${problemDetail(text)}`, res.status >= 500 || res.status === 429, { status: res.status })
  }
}

/** The receiver URL for a replay path; never another host, whatever the path says. */
export function webhookUrl(base: URL, path: string): URL {
  if (!path.startsWith('/') || path.startsWith('//')) throw new ReplayFailedError(`replay path ${JSON.stringify(path)} is not a path on the receiver`, false)
  const url = new URL(base.pathname.replace(/\/$/, '') + path, base)
  if (url.origin !== base.origin) throw new ReplayFailedError(`replay path ${JSON.stringify(path)} leaves the receiver`, false)
  return url
}

const ALERTMANAGER_PATH = '/webhooks/alertmanager'

/**
 * The receiver answers an Alertmanager notification 200 also when it refuses some of its alerts (and
 * dead-letters them again), with `{accepted, rejected: [{index, reason, errors}], rejectedTotal}`. What
 * it refused, or undefined when it took every alert of the replayed body (or the answer says nothing).
 */
function alertmanagerRefusal(answer: string, sentBody: string): string | undefined {
  let a: { accepted?: unknown; rejected?: unknown; rejectedTotal?: unknown }
  try {
    a = JSON.parse(answer) as typeof a
  } catch {
    return undefined
  }
  if (!a || typeof a !== 'object') return undefined
  const sent = alertsIn(sentBody)
  const rejectedTotal = typeof a.rejectedTotal === 'number' ? a.rejectedTotal : 0
  const accepted = typeof a.accepted === 'number' ? a.accepted : undefined
  const short = sent !== undefined && accepted !== undefined && accepted < sent
  if (rejectedTotal <= 0 && !short) return undefined
  const of = sent === undefined ? '' : ` of ${sent}`
  const what = rejectedTotal > 0 ? `refused ${rejectedTotal}${of} alert(s)` : `accepted only ${accepted}${of} alert(s)`
  const reasons = Array.isArray(a.rejected) ? a.rejected.slice(0, 5).map(refusalText).filter((r) => r !== '') : []
  return `${what}${reasons.length > 0 ? `: ${reasons.join('; ').slice(0, 500)}` : ''}`
}

function alertsIn(body: string): number | undefined {
  try {
    const alerts = (JSON.parse(body) as { alerts?: unknown } | null)?.alerts
    return Array.isArray(alerts) ? alerts.length : undefined
  } catch {
    return undefined
  }
}

function refusalText(r: unknown): string {
  const { index, reason, errors } = (r ?? {}) as { index?: unknown; reason?: unknown; errors?: unknown }
  const fields = Array.isArray(errors)
    ? errors.slice(0, 3).map((e) => { const { path, message } = (e ?? {}) as { path?: unknown; message?: unknown }; return [path, message].filter((v) => typeof v === 'string').join(' ') }).filter((f) => f !== '')
    : []
  const head = [typeof index === 'number' ? `alert ${index}` : '', typeof reason === 'string' ? reason : ''].filter((v) => v !== '').join(' ')
  return [head, fields.length > 0 ? `(${fields.join(', ')})` : ''].filter((v) => v !== '').join(' ')
}

function problemDetail(body: string): string {
  try {
    const p = JSON.parse(body) as { code?: unknown; detail?: unknown; title?: unknown }
    const what = [p.code, p.detail ?? p.title].filter((v) => typeof v === 'string').join(': ')
    return what ? ` (${what.slice(0, 300)})` : ''
  } catch {
    return ''
  }
}

/** What the replay did, as an operator reads it in a terminal. */
export function formatReplayReport(report: ReplayReport): string {
  const lines: string[] = []
  const verb = report.dryRun ? 'would replay' : 'replayed'
  lines.push(`${report.matched} dead letter(s) matched${report.dryRun ? ' (dry run: nothing sent)' : ''}`)
  const byTarget = new Map<string, number>()
  for (const o of report.outcomes) if (o.outcome === 'replayed' || o.outcome === 'would-replay') byTarget.set(o.target, (byTarget.get(o.target) ?? 0) + 1)
  lines.push(`  ${verb.padEnd(15)} ${report.replayed}`)
  for (const [target, n] of [...byTarget].sort()) lines.push(`    ${n} to ${target}`)
  if (!report.dryRun) {
    lines.push(`  ${'failed again'.padEnd(15)} ${report.failed}`)
    for (const o of report.outcomes) if (o.outcome === 'failed') lines.push(`    ${deadLetterId(o.deadLetter)} (${o.deadLetter.reason}) to ${o.target}: ${o.error}${o.retriable ? ' [retry later]' : ''}`)
  }
  lines.push(`  ${'not replayable'.padEnd(15)} ${report.notReplayable}`)
  const why = new Map<string, number>()
  for (const o of report.outcomes) if (o.outcome === 'not-replayable') why.set(o.why, (why.get(o.why) ?? 0) + 1)
  for (const [w, n] of [...why].sort()) lines.push(`    ${n}: ${w}`)
  if (report.duplicates > 0) lines.push(`  ${'duplicates'.padEnd(15)} ${report.duplicates}   (same input as another dead letter in this run: replayed once)`)
  return `${lines.join('\n')}\n`
}
