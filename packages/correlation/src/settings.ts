// The engine's thresholds as environment variables, listed once: the correlator reads them all, and
// `opsreview replay` overrides the engine's defaults with the ones that are set, so a replay runs with the
// values a correlator would be started with. docs/configuration.md and docs/replay.md mirror this list.
import { field, readConfig, type ConfigOf, type Field } from '@opsreview/config'
import { defaultCorrelationConfig as d, POSTMORTEM_MIN_SERVICES, type EngineConfig } from './config.ts'

export const thresholdSpec = {
  OPSREVIEW_QUIET_PERIOD: field.duration('all members resolved this long: the incident resolves', d.quietPeriodMs),
  OPSREVIEW_REOPEN_WINDOW: field.duration('a member firing again this soon reopens the incident', d.reopenWindowMs),
  OPSREVIEW_JOIN_WINDOW: field.duration('a new alert joins an open incident only if it was active this recently: a member still firing fired, or a report came; a member that ended counts for the quiet period after it (0: no limit)', d.joinWindowMs),
  OPSREVIEW_REPORT_WINDOW: field.duration('a report joins an incident opening this soon after it; an incident of reports alone takes alerts this near one of its reports', d.reportWindowMs),
  OPSREVIEW_STALENESS_ALERTMANAGER: field.duration('firing Alertmanager alerts not heard of this long resolve', d.stalenessMs.alertmanager),
  OPSREVIEW_STALENESS_PINGDOM: field.duration('likewise for Pingdom checks (0: never; Pingdom sends state changes only)', d.stalenessMs.pingdom),
  OPSREVIEW_STALENESS_REPORT: field.duration('incidents opened by a report only resolve after this long', d.stalenessMs.report),
  OPSREVIEW_POSTMORTEM_SEVERITIES: field.list('a post-mortem needs one of these severities, and one of the conditions below', [...d.postmortem.severities]),
  OPSREVIEW_POSTMORTEM_MIN_DURATION: field.duration('condition: the incident lasted this long (0 turns it off)', d.postmortem.minDurationMs),
  OPSREVIEW_POSTMORTEM_CUSTOMER_IMPACT: field.oneOf('condition: customers were affected', ['true', 'false'] as const, d.postmortem.whenCustomerImpact ? 'true' : 'false'),
  OPSREVIEW_POSTMORTEM_MIN_SERVICES: field.int('condition: the incident hit this many services (0 turns it off; all three off: the severity alone)', d.postmortem.minServices ?? POSTMORTEM_MIN_SERVICES, { min: 0 }),
  OPSREVIEW_RECURRING_MIN_INCIDENTS: field.int('incidents with one signature that make a recurring problem', d.recurring.minIncidents, { min: 2 }),
  OPSREVIEW_RECURRING_WINDOW: field.duration('within this window', d.recurring.windowMs),
  OPSREVIEW_FLAPPING_MIN_FLAPS: field.int('re-fires of one alert that make it flapping', d.flapping.minFlaps, { min: 2 }),
  OPSREVIEW_FLAPPING_WINDOW: field.duration('within this window', d.flapping.windowMs),
  OPSREVIEW_SHARED_CAUSE_WINDOW: field.duration('incidents opening this close can share a cause', d.sharedCause.windowMs),
  OPSREVIEW_SHARED_CAUSE_MIN_SERVICES: field.int('services that must share a dependency value', d.sharedCause.minServices, { min: 2 }),
  OPSREVIEW_SHARED_CAUSE_LABELS: field.list('dependency labels (host also matches the host part of instance)', [...d.sharedCause.labels]),
  OPSREVIEW_SHARED_CAUSE_EXPORTER_JOBS: field.list("jobs whose instance is the exporter's own address, not a host the alert is about", [...d.sharedCause.exporterJobs ?? []]),
  OPSREVIEW_CORRELATOR_RETENTION: field.duration('how long event ids and resolved incidents stay in engine state', d.retentionMs),
  OPSREVIEW_POSTMORTEM_KEEP: field.int('resolved incidents kept past the retention for the post-mortem they require until one is scheduled; past this many, or 100 times as many alerts in them, the oldest is forgotten (its last version says so)', d.maxAwaitingPostmortem, { min: 0 }),
  OPSREVIEW_ALLOWED_LATENESS: field.duration('how late an event may arrive and still be applied in event-time order; also how long each event waits', d.allowedLatenessMs),
  OPSREVIEW_FUTURE_TOLERANCE: field.duration("a sender's event time more than this after receipt is clamped to receipt + this; a receipt more than this after its record's Kafka timestamp or the correlator's clock, to that + this", d.futureToleranceMs),
  OPSREVIEW_LATE_HOLD_AFTER: field.duration('an event this far behind the watermark is a backlog: held until a tick finds the backlog drained, then applied in event-time order', d.lateHold.afterMs),
  OPSREVIEW_LATE_HOLD_QUIET: field.duration('a held backlog is applied at the first tick after this long without a held arrival', d.lateHold.quietMs),
  OPSREVIEW_LATE_HOLD_MAX: field.duration('a backlog held this long (of ticks) is applied even if more keeps coming: longer ones are applied in chunks', d.lateHold.maxMs),
}

export type Thresholds = ConfigOf<typeof thresholdSpec>

/** The engine configuration of the thresholds; the grouping and whether ticks come are the caller's. */
export function thresholdConfigOf(t: Thresholds): Omit<EngineConfig, 'grouping'> {
  return {
    quietPeriodMs: t.OPSREVIEW_QUIET_PERIOD,
    reopenWindowMs: t.OPSREVIEW_REOPEN_WINDOW,
    reportWindowMs: t.OPSREVIEW_REPORT_WINDOW,
    joinWindowMs: t.OPSREVIEW_JOIN_WINDOW,
    stalenessMs: { alertmanager: t.OPSREVIEW_STALENESS_ALERTMANAGER, pingdom: t.OPSREVIEW_STALENESS_PINGDOM, report: t.OPSREVIEW_STALENESS_REPORT },
    postmortem: {
      severities: t.OPSREVIEW_POSTMORTEM_SEVERITIES, minDurationMs: t.OPSREVIEW_POSTMORTEM_MIN_DURATION,
      whenCustomerImpact: t.OPSREVIEW_POSTMORTEM_CUSTOMER_IMPACT === 'true', minServices: t.OPSREVIEW_POSTMORTEM_MIN_SERVICES,
    },
    recurring: { minIncidents: t.OPSREVIEW_RECURRING_MIN_INCIDENTS, windowMs: t.OPSREVIEW_RECURRING_WINDOW },
    flapping: { minFlaps: t.OPSREVIEW_FLAPPING_MIN_FLAPS, windowMs: t.OPSREVIEW_FLAPPING_WINDOW },
    sharedCause: {
      windowMs: t.OPSREVIEW_SHARED_CAUSE_WINDOW, minServices: t.OPSREVIEW_SHARED_CAUSE_MIN_SERVICES,
      labels: t.OPSREVIEW_SHARED_CAUSE_LABELS, exporterJobs: t.OPSREVIEW_SHARED_CAUSE_EXPORTER_JOBS,
    },
    retentionMs: t.OPSREVIEW_CORRELATOR_RETENTION,
    maxAwaitingPostmortem: t.OPSREVIEW_POSTMORTEM_KEEP,
    allowedLatenessMs: t.OPSREVIEW_ALLOWED_LATENESS,
    futureToleranceMs: t.OPSREVIEW_FUTURE_TOLERANCE,
    lateHold: { afterMs: t.OPSREVIEW_LATE_HOLD_AFTER, quietMs: t.OPSREVIEW_LATE_HOLD_QUIET, maxMs: t.OPSREVIEW_LATE_HOLD_MAX, maxEvents: d.lateHold.maxEvents },
  }
}

type Overrides<S> = { [K in keyof S]: S[K] extends Field<infer T> ? Field<T | undefined> : never }

/** The thresholds as overrides: a variable left unset leaves the engine's default in place instead of naming one. */
export const thresholdOverridesSpec = Object.fromEntries(Object.entries(thresholdSpec).map(([name, f]: [string, Field<unknown>]) => [name, {
  doc: `${f.doc} (unset: the engine's default)`,
  parse: (raw: string | undefined) => (raw === undefined || raw.trim() === '' ? { ok: true, value: undefined } : f.parse(raw)),
}])) as Overrides<typeof thresholdSpec>

export type ThresholdOverrides = Partial<Thresholds>

/** The overrides that are set, for a report to show. */
export function setOverrides(c: ConfigOf<typeof thresholdOverridesSpec>): ThresholdOverrides {
  return Object.fromEntries(Object.entries(c).filter(([name, v]) => name in thresholdSpec && v !== undefined)) as ThresholdOverrides
}

const defaultThresholds: Thresholds = (() => {
  const r = readConfig(thresholdSpec, {})
  if (!r.ok) throw new Error(`the engine's own threshold defaults do not parse: ${r.errors.join('; ')}`)
  return r.value
})()

/** The engine configuration of the overrides, every threshold not given at its default. */
export function overriddenConfigOf(o: ThresholdOverrides): Omit<EngineConfig, 'grouping'> {
  const given = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined))
  return thresholdConfigOf({ ...defaultThresholds, ...given })
}
