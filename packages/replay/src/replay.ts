import type { Kafka } from 'kafkajs'
import { CorrelationEngine } from '@opsreview/correlation/engine'
import { defaultCorrelationConfig, type CorrelationConfig } from '@opsreview/correlation/config'
import { withReceiptNoLaterThan } from '@opsreview/correlation/event-time'
import type { AlertEvent, Incident, Problem } from '@opsreview/correlation/types'
import { timedChange, type TimedChange } from '@opsreview/review/availability'
import { validateAlertEvent, validateCommand } from '@opsreview/schemas'
import { readLog } from './read-log.ts'

/** What `runReplay` logs: any pino logger fits. */
export interface ReplayLogger {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

export interface ReplayOptions {
  kafka: Kafka
  /** The canonical alerts topic and the review's commands topic: the correlator's own inputs. */
  topics: { alerts: string; commands: string }
  fromMs: number
  toMs: number
  /**
   * The engine's configuration: the correlator's thresholds with the overrides, plus whatever the
   * grouping rules add. Unset fields take the engine's defaults.
   */
  engineConfig: Partial<CorrelationConfig>
  /** Re-derives an event's service and environment under other grouping rules, before the engine sees it. */
  relabel?: (event: AlertEvent) => AlertEvent
  /** Input read before `fromMs` so windows start warm; defaults to the longest window of the config. */
  warmUpMs?: number
  /**
   * The live correlator ticks every few seconds of wall time, so an event that arrives after its own time
   * meets a watermark already past it (the late-event rule). The replay ticks at the records' receipt
   * times, at most this often, to decide as live did (default 5 s, the correlator's; 0: no ticks, events
   * only, which is exact event-time order).
   */
  tickIntervalMs?: number
  /** Replays the review's decisions too (default true). */
  commands?: boolean
  groupId: string
  /** Gives up when Kafka sends nothing for this long while records are still expected (default 60 s). */
  idleTimeoutMs?: number
  /** Stops the read of the log when aborted (Ctrl-C), rejecting with its reason. */
  signal?: AbortSignal
  logger: ReplayLogger
  /** Wall clock for the speed figures only; the engine runs on event time. */
  now?: () => number
}

export interface ReplayStats {
  /** Where reading started: `fromMs` less the warm-up. */
  readFrom: string
  alerts: number
  commands: number
  /** Commands the engine refused (mostly decisions on incidents the new grouping no longer has). */
  commandsRefused: number
  /** Records that are not a valid event or command: the live correlator dead-lettered them too. */
  invalid: number
  /** Events whose service or environment the rules changed. */
  relabelled: number
  late: number
  /**
   * The input partitions whose retained log starts after `readFrom`: retention removed what they received
   * before `earliest` (ISO 8601; null when the partition retains no record), so the replay could not read it.
   */
  cut: { topic: string; partition: number; logStartOffset: string; earliest: string | null }[]
  elapsedMs: number
  /** Alerts and commands read from Kafka and applied, per second of the whole run. */
  recordsPerSecond: number
}

export interface ReplayResult {
  incidents: Incident[]
  problems: Problem[]
  /**
   * The critical alerts' state changes read, for availability: `live` with the service the receiver gave
   * each (the live run's), `replay` with the service the rules give it.
   */
  changes: { live: TimedChange[]; replay: TimedChange[] }
  stats: ReplayStats
}

/**
 * The warm-up the configuration needs: the longest window over which earlier input changes what
 * happens in the range. Recurring problems look back 7 days by default, and so does the warm-up.
 */
export function warmUpFor(config: Partial<CorrelationConfig>): number {
  const c = { ...defaultCorrelationConfig, ...config }
  return Math.max(c.recurring.windowMs, c.flapping.windowMs, c.reopenWindowMs, c.reportWindowMs, c.joinWindowMs, c.sharedCause.windowMs, c.quietPeriodMs)
}

/** Where the replay's input starts: `fromMs` less the warm-up (by default the configuration's). */
export function readFromOf(o: Pick<ReplayOptions, 'fromMs' | 'warmUpMs' | 'engineConfig'>): number {
  // Never before the epoch: the log holds nothing earlier, and Elasticsearch refuses a year before 0.
  return Math.max(0, o.fromMs - (o.warmUpMs ?? warmUpFor(o.engineConfig)))
}

/**
 * The ticks that close a replay's range at `toMs`, so that every event of it is applied and no backlog stays
 * held. A record's receipt is clamped to its timestamp plus the future tolerance, and its event time to the
 * receipt plus the same: the range's events lie up to two tolerances past `toMs`. The first tick takes the
 * watermark (which trails ticks by the allowed lateness) to `toMs` and fires the timers due by then, as
 * before; the second to two tolerances past it, where the last events wait and a hold's receipts lie
 * (a quiet hold waits for the watermark to reach them); the third, the late-event rule's quiet time later,
 * releases a backlog still held. Until 2026-12-07 the ticks stopped at `toMs` plus the quiet time: events
 * timed past that were never applied, and a hold whose receipt lay past `toMs` was never released.
 */
export function closingTicks(toMs: number, cfg: Partial<CorrelationConfig>): number[] {
  const lateness = cfg.allowedLatenessMs ?? defaultCorrelationConfig.allowedLatenessMs
  const tolerance = cfg.futureToleranceMs ?? defaultCorrelationConfig.futureToleranceMs
  const quietMs = cfg.lateHold?.quietMs ?? defaultCorrelationConfig.lateHold.quietMs
  const last = toMs + lateness + 2 * tolerance
  return [toMs + lateness, last, last + quietMs]
}

/**
 * Runs a fresh engine over the retained log of [fromMs − warm-up, toMs]: alerts (relabelled under the
 * rules) and decisions, merged across partitions in the order they were received, each applied on event
 * time by the engine. A final tick at `toMs` fires the timers due by then. Reads with a throwaway group,
 * writes nothing anywhere; the result holds each incident and problem at its last version.
 */
export async function runReplay(o: ReplayOptions): Promise<ReplayResult> {
  const now = o.now ?? Date.now
  const started = now()
  const readFromMs = readFromOf(o)
  const tickIntervalMs = o.tickIntervalMs ?? 5000
  // The replay ticks (below), so a backlog at the start of the log is held as the live correlator holds it.
  const lateHold = { ...defaultCorrelationConfig.lateHold, ...o.engineConfig.lateHold, expectTicks: tickIntervalMs > 0 }
  const engine = new CorrelationEngine({ ...o.engineConfig, lateHold })
  const futureToleranceMs = o.engineConfig.futureToleranceMs ?? defaultCorrelationConfig.futureToleranceMs
  const incidents = new Map<string, Incident>()
  const problems = new Map<string, Problem>()
  const stats = { alerts: 0, commands: 0, commandsRefused: 0, invalid: 0, relabelled: 0 }
  const changes: ReplayResult['changes'] = { live: [], replay: [] }
  const withCommands = o.commands ?? true
  const topics = withCommands ? [o.topics.alerts, o.topics.commands] : [o.topics.alerts]

  let lastTick = -Infinity
  const read = await readLog({ kafka: o.kafka, topics, fromMs: readFromMs, toMs: o.toMs, groupId: o.groupId, ...(o.idleTimeoutMs !== undefined ? { idleTimeoutMs: o.idleTimeoutMs } : {}), signal: o.signal }, (record) => {
    if (tickIntervalMs > 0 && record.timestamp - lastTick >= tickIntervalMs) {
      lastTick = record.timestamp
      engine.applyBuffered({ type: 'tick', at: new Date(record.timestamp).toISOString() })
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(record.value)
    } catch {
      stats.invalid++
      return
    }
    if (record.topic === o.topics.commands) {
      const v = validateCommand(parsed)
      if (!v.ok) { stats.invalid++; return }
      stats.commands++
      engine.applyBuffered({ type: 'command', command: v.value })
      return
    }
    const v = validateAlertEvent(parsed)
    if (!v.ok) { stats.invalid++; return }
    // As the correlator's rekeyer clamps it before its input log.
    let event = withReceiptNoLaterThan(v.value, record.timestamp + futureToleranceMs)
    if (o.relabel) {
      const next = o.relabel(event)
      if (next.service !== event.service || next.environment !== event.environment) stats.relabelled++
      event = next
    }
    // Only critical alerts count for service levels; reports are no alert state.
    if (event.severity === 'critical' && event.source !== 'report') {
      const live = timedChange(v.value)
      changes.live.push(live)
      changes.replay.push(event.service === live.service ? live : timedChange(event))
    }
    stats.alerts++
    engine.applyBuffered({ type: 'alert', event })
  })
  for (const at of closingTicks(o.toMs, { ...o.engineConfig, lateHold })) engine.applyBuffered({ type: 'tick', at: new Date(at).toISOString() })
  // Only the last version of each incident and problem counts: drained once, each is copied once.
  for (const out of engine.drainOutputs()) {
    if (out.type === 'incident') incidents.set(out.incident.id, out.incident)
    else if (out.type === 'problem') problems.set(out.problem.id, out.problem)
    else if (!out.result.ok) stats.commandsRefused++
  }

  const elapsedMs = Math.max(1, now() - started)
  const result: ReplayResult = {
    incidents: [...incidents.values()],
    problems: [...problems.values()],
    changes,
    stats: {
      readFrom: new Date(readFromMs).toISOString(), ...stats, late: engine.stats.late,
      cut: read.cut.map((c) => ({ ...c, earliest: c.earliest === null ? null : new Date(c.earliest).toISOString() })), elapsedMs,
      recordsPerSecond: Math.round(((stats.alerts + stats.commands) * 1000) / elapsedMs),
    },
  }
  o.logger.info({ ...result.stats, incidents: result.incidents.length, problems: result.problems.length }, 'replay: engine run complete')
  return result
}
