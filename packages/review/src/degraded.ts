import { field, type ConfigOf } from '@opsreview/config'

/**
 * Which alerts mean a service is degraded (slow) rather than down. A critical alert counts towards a
 * service's downtime unless the rule picks it: then its firing time is degraded time, reported apart.
 * Only critical alerts count for service levels at all, as before (docs/review.md).
 */
export interface DegradedRule {
  /** Labels that mark an alert as a degradation: `slo=latency`. Any one matching is enough. */
  labels: readonly { name: string; value: string }[]
  /** Alertnames matching this (unanchored, case-sensitive) are degradations; null matches none. */
  alertnames: RegExp | null
}

export const defaultDegradedRule: DegradedRule = Object.freeze({ labels: [{ name: 'slo', value: 'latency' }], alertnames: /Latency|Slow|ResponseTime/ })

/** The rule's variables, read by the review and by `opsreview replay`, which counts availability as the review does. */
export const degradedRuleSpec = {
  OPSREVIEW_DEGRADED_LABELS: field.custom<DegradedRule['labels']>('label=value pairs marking a critical alert as degraded (slow), not down; none for no label rule', defaultDegradedRule.labels, parseDegradedLabels),
  OPSREVIEW_DEGRADED_ALERTNAMES: field.custom<DegradedRule['alertnames']>('regular expression over alertnames marking a critical alert as degraded, not down; none for no alertname rule', defaultDegradedRule.alertnames, parseDegradedAlertnames),
}

export const degradedRuleOf = (c: ConfigOf<typeof degradedRuleSpec>): DegradedRule => ({ labels: c.OPSREVIEW_DEGRADED_LABELS, alertnames: c.OPSREVIEW_DEGRADED_ALERTNAMES })

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

/** `slo=latency,kind=slow`: label pairs, each `name=value` with a Prometheus label name; `none` for no label rule. */
export function parseDegradedLabels(raw: string): { ok: true; value: DegradedRule['labels'] } | { ok: false; error: string } {
  if (raw.trim() === 'none') return { ok: true, value: [] }
  const out: { name: string; value: string }[] = []
  for (const item of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = item.indexOf('=')
    const name = eq > 0 ? item.slice(0, eq).trim() : ''
    const value = eq > 0 ? item.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1') : ''
    if (!LABEL_NAME.test(name) || value === '') return { ok: false, error: `must be label=value pairs separated by commas (slo=latency) or none, got ${JSON.stringify(item)}` }
    out.push({ name, value })
  }
  return { ok: true, value: out }
}

/** A regular expression over alertnames (`Latency|Slow|ResponseTime`); `none` matches no alertname. */
export function parseDegradedAlertnames(raw: string): { ok: true; value: RegExp | null } | { ok: false; error: string } {
  if (raw.trim() === 'none') return { ok: true, value: null }
  try {
    return { ok: true, value: new RegExp(raw) }
  } catch (err) {
    return { ok: false, error: `must be a regular expression or none: ${(err as Error).message}` }
  }
}

/** What the rule looks at: an alert's labels when known (the alerts index), else its alertname alone (an incident's member record). */
export interface AlertIdentity {
  alertname?: string | undefined
  labels?: Readonly<Record<string, string | undefined>> | undefined
}

export function isDegraded(rule: DegradedRule, alert: AlertIdentity): boolean {
  const name = alert.alertname ?? alert.labels?.alertname
  if (name !== undefined && rule.alertnames !== null && rule.alertnames.test(name)) return true
  return rule.labels.some((l) => alert.labels?.[l.name] === l.value)
}
