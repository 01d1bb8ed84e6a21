/**
 * Runs retention (retention.ts) on a schedule inside the indexer. Every indexer schedules it; the lease
 * (retention-lease.ts) lets one of them do a run per interval. A failed run is logged, counted and given
 * up, the lease released, so the next attempt of any instance retries; it never throws into the indexer.
 * `stop` ends a run under way between two requests and gives its lease back, as the indexer shuts down.
 */
import type { Client } from '@elastic/elasticsearch'
import type { Logger } from 'pino'
import { Counter, Gauge, type Registry } from 'prom-client'
import { classifyRequestError } from './errors.ts'
import { RetentionLease } from './retention-lease.ts'
export { leaseHolderName } from './retention-lease.ts'
import { runRetention, type RetentionResult, type RetentionSettings } from './retention.ts'

export interface RetentionMetrics {
  runs: Counter<'outcome'>
  deleted: Counter<'kind'>
  failures: Counter<'code'>
  lastRun: Gauge
  lastSuccess: Gauge
  lastDuration: Gauge
}

/** The retention metrics, registered on the service's registry. */
export function registerRetentionMetrics(registry: Registry): RetentionMetrics {
  const registers = [registry]
  return {
    runs: new Counter({ name: 'opsreview_retention_runs_total', help: 'Retention attempts of this instance, by outcome: done, skipped (another instance holds the lease), failed', labelNames: ['outcome'], registers }),
    deleted: new Counter({ name: 'opsreview_retention_deleted_total', help: 'What retention deleted, by kind: alert-months, alert-indices, incidents, problems', labelNames: ['kind'], registers }),
    failures: new Counter({ name: 'opsreview_retention_failures_total', help: 'Failed retention runs, by the indexer error catalogue code', labelNames: ['code'], registers }),
    lastRun: new Gauge({ name: 'opsreview_retention_last_run_timestamp_seconds', help: 'When this instance last ran retention (done or failed)', registers }),
    lastSuccess: new Gauge({ name: 'opsreview_retention_last_success_timestamp_seconds', help: 'When a retention run of this instance last completed', registers }),
    lastDuration: new Gauge({ name: 'opsreview_retention_last_run_duration_seconds', help: 'How long the last retention run of this instance took', registers }),
  }
}

export type RetentionOutcome =
  | { outcome: 'done'; result: RetentionResult }
  | { outcome: 'skipped'; holder: string; expiresAt: string }
  | { outcome: 'failed'; error: unknown }
  /** `stop` ended the run part-way: not a failure; the next run of any instance deletes the rest. */
  | { outcome: 'stopped' }

export interface RetentionSchedulerOptions {
  es: Client
  prefix: string
  settings: RetentionSettings
  /** Time between runs, and how long a run's lease lasts. */
  intervalMs: number
  /** Time from start to the first attempt. */
  firstDelayMs: number
  /** This instance as a lease holder (`leaseHolderName`). */
  holder: string
  logger: Logger
  metrics?: RetentionMetrics
  now?: () => number
  /**
   * Keep the lease for an interval after a run that completed, so no instance runs again before then
   * (the schedule). False: give it back when done.
   */
  holdAfterRun?: boolean
  /** An operator's one-shot run: takes a lease another instance keeps after its run, never one with a run under way. */
  takeResting?: boolean
  /** An operator's one-shot run: nothing tries a failed run again, so the log does not say it will. */
  oneShot?: boolean
}

export class RetentionScheduler {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<RetentionOutcome> | undefined
  private stopped = false
  private readonly stopping = new AbortController()
  private readonly lease: RetentionLease
  private readonly now: () => number
  private readonly o: RetentionSchedulerOptions

  constructor(o: RetentionSchedulerOptions) {
    this.o = o
    this.lease = new RetentionLease(o.es, o.prefix, o.holder)
    this.now = o.now ?? Date.now
  }

  start(): void {
    this.schedule(this.o.firstDelayMs)
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return
    this.timer = setTimeout(() => { void this.runOnce().finally(() => this.schedule(this.o.intervalMs)) }, delayMs)
    this.timer.unref()
  }

  /**
   * One attempt: take the lease, run, keep the lease for an interval after a run that completed (so no
   * instance runs again before then) and give it up after one that failed. Never throws.
   */
  runOnce(): Promise<RetentionOutcome> {
    this.running ??= this.attempt().finally(() => { this.running = undefined })
    return this.running
  }

  private async attempt(): Promise<RetentionOutcome> {
    const { logger, metrics, intervalMs } = this.o
    const started = this.now()
    let held = false
    let renewal: NodeJS.Timeout | undefined
    // Every lease write goes at the sequence number of the one before: a renewal still in flight must be
    // done before the final write, or one of the two gets a 409 (a false "lease lost", or a lease left
    // marked running).
    let renewing: Promise<void> | undefined
    try {
      const acquired = await this.lease.acquire(started, intervalMs, { takeResting: this.o.takeResting })
      if (!acquired.ok) {
        metrics?.runs.inc({ outcome: 'skipped' })
        logger.debug({ holder: acquired.holder, until: acquired.expiresAt }, 'retention skipped: another instance holds the lease')
        return { outcome: 'skipped', holder: acquired.holder, expiresAt: acquired.expiresAt }
      }
      held = true
      // A run longer than the interval keeps its lease, so a second instance does not start the same work.
      renewal = setInterval(() => {
        renewing ??= this.lease.extend(this.now(), intervalMs)
          .then((ours) => { if (!ours) logger.warn('retention lease lost during a run: another instance may run too (deletes are idempotent)') }, () => undefined)
          .finally(() => { renewing = undefined })
      }, Math.max(1000, Math.floor(intervalMs / 3)))
      renewal.unref()
      const result = await runRetention(this.o.es, this.o.prefix, this.o.settings, started, { signal: this.stopping.signal })
      clearInterval(renewal)
      renewal = undefined
      await renewing
      await (this.o.holdAfterRun === false ? this.lease.release(this.now()) : this.lease.extend(this.now(), intervalMs, false)).catch(() => undefined)
      const seconds = (this.now() - started) / 1000
      if (metrics) {
        metrics.runs.inc({ outcome: 'done' })
        metrics.deleted.inc({ kind: 'alert-months' }, result.alerts.months.length)
        metrics.deleted.inc({ kind: 'alert-indices' }, result.alerts.indices.length)
        metrics.deleted.inc({ kind: 'incidents' }, result.incidents.deleted)
        metrics.deleted.inc({ kind: 'problems' }, result.problems.deleted)
        metrics.lastRun.set(this.now() / 1000)
        metrics.lastSuccess.set(this.now() / 1000)
        metrics.lastDuration.set(seconds)
      }
      logger.info({
        alertMonths: result.alerts.months, alertIndices: result.alerts.indices, oldestAlertMonthKept: result.alerts.oldestKept,
        incidents: result.incidents.deleted, incidentsResolvedBefore: result.incidents.cutoff,
        problems: result.problems.deleted, problemsLastSeenBefore: result.problems.cutoff, seconds,
      }, 'retention run done')
      // Left to the operator, on every run until the block is lifted.
      if (result.alerts.blocked) logger.warn({ alertIndicesBlocked: result.alerts.blocked }, 'retention kept old alert indices a block refuses to delete')
      return { outcome: 'done', result }
    } catch (error) {
      if (renewal) clearInterval(renewal)
      // At shutdown a renewal stuck on a hung Elasticsearch is not waited for past 5 s either.
      await (this.stopping.signal.aborted ? Promise.race([renewing, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]) : renewing)
      if (this.stopping.signal.aborted) {
        // Shutting down: no warning and no failure counted; the lease goes back at once, while the
        // client is still open, so another instance need not wait for it to expire.
        logger.info({ seconds: (this.now() - started) / 1000 }, 'retention run stopped part-way for shutdown; the next run does the rest')
        // Bounded: a hung Elasticsearch must not hold the shutdown; the lease then expires by itself.
        if (held) await this.lease.release(this.now(), { requestTimeout: 5_000 }).catch(() => undefined)
        return { outcome: 'stopped' }
      }
      const { code } = classifyRequestError(error)
      if (metrics) {
        metrics.runs.inc({ outcome: 'failed' })
        metrics.failures.inc({ code })
        metrics.lastRun.set(this.now() / 1000)
        metrics.lastDuration.set((this.now() - started) / 1000)
      }
      if (this.o.oneShot) logger.warn({ err: error, code }, 'retention run failed')
      else logger.warn({ err: error, code, retryInMs: this.o.intervalMs }, 'retention run failed; it is tried again')
      if (held) await this.lease.release(this.now()).catch(() => undefined)
      return { outcome: 'failed', error }
    }
  }

  /**
   * No more runs. A run under way stops at once (its request in flight is aborted), and its lease is given
   * back (waiting 5 s at most) before this resolves: call it before closing the client.
   */
  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    this.stopping.abort()
    await this.running
  }
}
