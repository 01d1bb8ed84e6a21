// Applying compiled rules to one alert: its service, its environment, its incident group key. Pure.
import { firstCodePoints, type AlertEvent } from '@opsreview/schemas'
import { isUsableName, MAX_ENVIRONMENT_CHARS, MAX_SERVICE_CHARS } from './names.ts'
import { labelValue, type GroupingRules } from './rules.ts'

type Labels = Readonly<Record<string, string>>

// A blank label, one holding a control character or one longer than the name it would give names nothing:
// the next label of the precedence does. The raw value stays in the event's labels; only the name it would
// have given is passed over.
function firstUsable(labels: Labels, names: readonly string[], maxChars: number): string | undefined {
  for (const n of names) {
    const v = labelValue(labels, n)
    if (v !== undefined && isUsableName(v, maxChars)) return v
  }
  return undefined
}

/** The label precedence that applies to these labels: the first matching service rule's, else the default. */
export function serviceLabelsFor(labels: Labels, rules: GroupingRules): readonly string[] {
  for (const r of rules.service.rules) if (r.test(labels)) return r.labels
  return rules.service.labels
}

/**
 * A CronJob's run is a Job named `<cronjob>-<its scheduled time in minutes since the epoch>`, 8 digits from
 * 1989 to 2160, a new name every run. Named by its CronJob, the same run failing night after night is one
 * service, and so a recurring problem. Exactly 8: a Job named with seconds or a longer id is not a run.
 */
const CRONJOB_RUN = /^(.+)-\d{8}$/

/**
 * The service the labels name (first label of the precedence that is present, not blank and free of
 * control characters), or undefined. A `job_name` (kube-state-metrics' Job label) of a CronJob's run
 * names the CronJob.
 */
export function serviceOf(labels: Labels, rules: GroupingRules): string | undefined {
  for (const name of serviceLabelsFor(labels, rules)) {
    const value = labelValue(labels, name)
    if (value === undefined) continue
    // The name is checked, not the label: a run `  -29894520` would name a blank CronJob.
    const named = name === 'job_name' ? (CRONJOB_RUN.exec(value)?.[1] ?? value) : value
    if (isUsableName(named, MAX_SERVICE_CHARS)) return named
  }
  return undefined
}

/** The service of an alert whose `alertname` is blank, or holds nothing but control characters and blanks. */
export const UNNAMED_SERVICE = 'unnamed'

/**
 * The service an Alertmanager alert's `alertname` gives when no label of the precedence names one. The
 * webhook takes any alertname of one character or more (a label value of up to 4,096), and refusing the
 * alert would lose it with the rest of its notification: an alertname that could not be found by the
 * review's filters (blank, or holding a control character) names its service with each run of control
 * characters made a space, the ends trimmed, or `unnamed` when nothing is left; one longer than a service's
 * name is cut to it.
 */
export function serviceFromAlertname(alertname: string): string {
  if (isUsableName(alertname, MAX_SERVICE_CHARS)) return alertname
  const named = firstCodePoints(alertname.replace(/\p{Cc}+/gu, ' ').trim(), MAX_SERVICE_CHARS).trimEnd()
  return isUsableName(named, MAX_SERVICE_CHARS) ? named : UNNAMED_SERVICE
}

/** The environment the labels name, or undefined when none of the environment labels is there and usable. */
export function environmentLabelOf(labels: Labels, rules: GroupingRules): string | undefined {
  return firstUsable(labels, rules.environment.labels, MAX_ENVIRONMENT_CHARS)
}

/** The environment: the first usable environment label, else the rules' default. */
export function environmentOf(labels: Labels, rules: GroupingRules): string {
  return environmentLabelOf(labels, rules) ?? rules.environment.default
}

/**
 * The event's service and environment under other rules, from its labels: what the receiver would have
 * published had it run with `rules`. An Alertmanager alert's service falls back to its `alertname` and its
 * environment to the rules' default, as in the receiver. Pingdom checks and reports got theirs from tags
 * and from the filer, never from labels, so they keep them (until 2026-12-05 a label of the rules'
 * precedence renamed them: a precedence ending in `alertname` named a Pingdom check's service after the
 * check, and a replay with the live rules split incidents the live correlator had kept whole).
 * Returns the same object when nothing changes.
 */
export function relabel(event: AlertEvent, rules: GroupingRules): AlertEvent {
  if (event.source !== 'alertmanager') return event
  const labels = event.labels
  const alertname = labelValue(labels, 'alertname')
  const service = serviceOf(labels, rules) ?? (alertname === undefined ? event.service : serviceFromAlertname(alertname))
  const environment = environmentOf(labels, rules)
  return service === event.service && environment === event.environment ? event : { ...event, service, environment }
}

/** The group key from the incident-key label, when the rules have one and the event carries it. */
export function incidentKeyGroupOf(event: Pick<AlertEvent, 'labels' | 'environment'>, rules: GroupingRules): string | undefined {
  const label = rules.incidentKeyLabel
  if (label === null) return undefined
  const value = labelValue(event.labels, label)
  // The same key as a rule `by: [labels.<label>]` would give: one grouping, one key.
  return value === undefined ? undefined : JSON.stringify([['environment', `labels.${label}`], [event.environment, value]])
}

/**
 * The name (else the index) of the group rule that groups this event; undefined when none matches (the default
 * `by`). The correlator's notification-group join asks it: only default-grouped alerts join so.
 */
export function groupRuleOf(event: AlertEvent, rules: GroupingRules): string | number | undefined {
  const list = rules.groupBy.rules
  for (let i = 0; i < list.length; i++) if (list[i]!.test(event)) return list[i]!.name ?? i
  return undefined
}

/**
 * The incident group key: the incident-key label's value if the event has one, else the fields of the
 * first group rule that matches, else of the default. Always within the event's environment (each
 * environment is correlated on its own partition, so a group across environments could not be kept).
 * Canonical JSON: injective whatever the values hold.
 */
export function groupKeyOf(event: AlertEvent, rules: GroupingRules): string {
  const explicit = incidentKeyGroupOf(event, rules)
  if (explicit !== undefined) return explicit
  for (const r of rules.groupBy.rules) if (r.test(event)) return r.by.key(event)
  return rules.groupBy.default.key(event)
}
