import { defaultGroupingRules, type GroupingRules } from '@opsreview/grouping'

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR
/** Services hit that make a critical incident large enough for a post-mortem, when the config leaves it out. */
export const POSTMORTEM_MIN_SERVICES = 2

/** Every threshold of the engine. The defaults are the README's. */
export interface CorrelationConfig {
  /** Which fields group alerts into incidents, and the incident-key label (@opsreview/grouping, docs/grouping.md). */
  grouping: GroupingRules
  /** All members resolved for this long: the incident resolves (a quick re-fire does not split it). */
  quietPeriodMs: number
  /** A member firing again this soon after the incident resolved reopens it. */
  reopenWindowMs: number
  /**
   * How close a report and an alert of one group must be to belong together: a report joins an incident
   * that opens up to this long after it (customers often notice first, and a complaint is filed later
   * still), and an incident of reports alone takes alerts firing up to this long before or after one of its
   * reports (a complaint in the morning is not the incident of an alert at night).
   */
  reportWindowMs?: number
  /**
   * A new alert joins an open incident of its group only if the incident was active this recently: a
   * member still firing fired or fired again, or a report came (a member that ended counts only within the
   * quiet period after it). A warning firing quietly for days does not swallow a new outage of its
   * service, and an outage that joined it and ended does not bridge it to the next. 0: no limit.
   */
  joinWindowMs?: number
  /** Firing alerts not heard of for this long are resolved, per source; 0: never (the source's alerts end only by a resolve or a person). */
  stalenessMs: Record<string, number>
  /**
   * When an incident needs a post-mortem ("for large incidents"): its severity is one of `severities` AND
   * at least one of the conditions turned on holds: it lasted `minDurationMs` or more (0 turns this off),
   * customers were affected (`whenCustomerImpact`), it hit `minServices` services or more (0 turns this
   * off; absent: 2). With all three off, the severity alone decides.
   */
  postmortem: { severities: readonly string[]; minDurationMs: number; whenCustomerImpact: boolean; minServices?: number }
  recurring: { minIncidents: number; windowMs: number }
  flapping: { minFlaps: number; windowMs: number }
  /**
   * `exporterJobs`: jobs whose `instance` is the exporter's own address, not the host an alert is about
   * (kube-state-metrics reports on every pod of a cluster from one pod): no `host` is taken from it. Absent: none.
   */
  sharedCause: { windowMs: number; minServices: number; labels: readonly string[]; exporterJobs?: readonly string[] }
  /** How long event ids are remembered for dedup, and resolved incidents kept for commands and reopen. */
  retentionMs: number
  /**
   * How many resolved incidents past the retention are kept for the post-mortem the review has still to
   * schedule (the oldest forgotten first): large incidents are few, but a team that never schedules one
   * would otherwise keep every one for ever.
   */
  maxAwaitingPostmortem?: number
  /**
   * How far behind the newest event time (or tick) an event may arrive and still be applied in event-time
   * order, exactly as if it had come in order. It is also how long every event waits before it is applied:
   * the watermark is the newest event time or tick less this. Later events follow the late-event rule.
   */
  allowedLatenessMs?: number
  /** A sender's time more than this after the event's receipt is clamped to receipt + this. */
  futureToleranceMs?: number
  /**
   * The late-event hold (docs/correlation-event-time.md, "The late-event rule"): an event more than
   * `afterMs` behind the watermark is a backlog's, not a sender's usual delay. It is held, with every later
   * late event, until the input goes quiet (a tick with no such arrival since the previous tick, and
   * `quietMs` of clock since the last), and then applied with them in event-time order. `maxMs` (of the
   * engine's clock: ticks and on-time events) and `maxEvents` bound the hold: a longer backlog is applied
   * in chunks. `expectTicks`: the caller ticks (the correlator with a tick interval, a replay), so a backlog
   * is held from the first event on; otherwise only once a tick has been seen (a fresh engine cannot tell
   * that ticks will come, and without them a hold would never be released).
   */
  lateHold?: { afterMs: number; quietMs: number; maxMs: number; maxEvents: number; expectTicks?: boolean }
}

/** The configuration with every optional field given. */
export type EngineConfig = Required<CorrelationConfig>

export const defaultCorrelationConfig: EngineConfig = Object.freeze({
  grouping: defaultGroupingRules,
  quietPeriodMs: 5 * MINUTE,
  reopenWindowMs: 30 * MINUTE,
  reportWindowMs: 30 * MINUTE,
  joinWindowMs: 4 * HOUR,
  // Alertmanager repeats a firing alert (repeat_interval, 4 h by default): a day without word means its
  // resolve was lost. Pingdom sends state changes only: a check down for two days sends nothing in between.
  stalenessMs: { alertmanager: DAY, pingdom: 0, report: DAY },
  // minServices left out: POSTMORTEM_MIN_SERVICES (2). Settings that build this group field by field (replay's)
  // then keep the default without naming it.
  postmortem: { severities: ['critical'], minDurationMs: 30 * MINUTE, whenCustomerImpact: true },
  recurring: { minIncidents: 3, windowMs: 7 * DAY },
  flapping: { minFlaps: 4, windowMs: HOUR },
  // Not `cluster` or `region`: most setups put them on every alert of a Prometheus (external labels), and then
  // any two services alerting in the same five minutes would share a "cause".
  sharedCause: { windowMs: 5 * MINUTE, minServices: 2, labels: ['host', 'node', 'database', 'dependency'], exporterJobs: ['kube-state-metrics'] },
  retentionMs: 30 * DAY,
  maxAwaitingPostmortem: 10_000,
  allowedLatenessMs: 0,
  futureToleranceMs: MINUTE,
  // 30 s of quiet: a drain that stalls a few seconds under load (a busy receiver, a slow broker) must not be
  // cut in two, which would chain incidents at the cut; a backlog's incidents showing 30 s later costs nothing.
  lateHold: { afterMs: 5 * MINUTE, quietMs: 30_000, maxMs: 10 * MINUTE, maxEvents: 100_000 },
})
