import { defaultCorrelationConfig as d, type CorrelationConfig } from '@opsreview/correlation/config'

/**
 * Engine thresholds a replay may override, named as the correlator's variables name them (the CLI reads
 * the same `OPSREVIEW_*` variables). Each left out keeps the engine's default. Grouping is not here: it
 * comes from a grouping rules file (`--config`, else `OPSREVIEW_GROUPING_RULES`).
 */
export interface SettingOverrides {
  OPSREVIEW_QUIET_PERIOD?: number
  OPSREVIEW_REOPEN_WINDOW?: number
  OPSREVIEW_REPORT_WINDOW?: number
  OPSREVIEW_JOIN_WINDOW?: number
  OPSREVIEW_STALENESS_ALERTMANAGER?: number
  OPSREVIEW_STALENESS_PINGDOM?: number
  OPSREVIEW_STALENESS_REPORT?: number
  OPSREVIEW_POSTMORTEM_SEVERITIES?: string[]
  OPSREVIEW_POSTMORTEM_MIN_DURATION?: number
  OPSREVIEW_POSTMORTEM_CUSTOMER_IMPACT?: 'true' | 'false'
  OPSREVIEW_POSTMORTEM_MIN_SERVICES?: number
  OPSREVIEW_RECURRING_MIN_INCIDENTS?: number
  OPSREVIEW_RECURRING_WINDOW?: number
  OPSREVIEW_FLAPPING_MIN_FLAPS?: number
  OPSREVIEW_FLAPPING_WINDOW?: number
  OPSREVIEW_SHARED_CAUSE_WINDOW?: number
  OPSREVIEW_SHARED_CAUSE_MIN_SERVICES?: number
  OPSREVIEW_SHARED_CAUSE_LABELS?: string[]
  OPSREVIEW_SHARED_CAUSE_EXPORTER_JOBS?: string[]
  OPSREVIEW_CORRELATOR_RETENTION?: number
  OPSREVIEW_ALLOWED_LATENESS?: number
  OPSREVIEW_FUTURE_TOLERANCE?: number
}

/** The engine configuration of the overrides, the defaults filled in where a group is partly given. */
export function engineConfigOf(o: SettingOverrides): Partial<CorrelationConfig> {
  const c: Partial<CorrelationConfig> = {}
  if (o.OPSREVIEW_QUIET_PERIOD !== undefined) c.quietPeriodMs = o.OPSREVIEW_QUIET_PERIOD
  if (o.OPSREVIEW_REOPEN_WINDOW !== undefined) c.reopenWindowMs = o.OPSREVIEW_REOPEN_WINDOW
  if (o.OPSREVIEW_REPORT_WINDOW !== undefined) c.reportWindowMs = o.OPSREVIEW_REPORT_WINDOW
  if (o.OPSREVIEW_JOIN_WINDOW !== undefined) c.joinWindowMs = o.OPSREVIEW_JOIN_WINDOW
  if (o.OPSREVIEW_STALENESS_ALERTMANAGER !== undefined || o.OPSREVIEW_STALENESS_PINGDOM !== undefined || o.OPSREVIEW_STALENESS_REPORT !== undefined) {
    c.stalenessMs = {
      alertmanager: o.OPSREVIEW_STALENESS_ALERTMANAGER ?? d.stalenessMs.alertmanager!,
      pingdom: o.OPSREVIEW_STALENESS_PINGDOM ?? d.stalenessMs.pingdom!,
      report: o.OPSREVIEW_STALENESS_REPORT ?? d.stalenessMs.report!,
    }
  }
  if (o.OPSREVIEW_POSTMORTEM_SEVERITIES || o.OPSREVIEW_POSTMORTEM_MIN_DURATION !== undefined || o.OPSREVIEW_POSTMORTEM_CUSTOMER_IMPACT !== undefined || o.OPSREVIEW_POSTMORTEM_MIN_SERVICES !== undefined) {
    c.postmortem = {
      severities: o.OPSREVIEW_POSTMORTEM_SEVERITIES ?? d.postmortem.severities,
      minDurationMs: o.OPSREVIEW_POSTMORTEM_MIN_DURATION ?? d.postmortem.minDurationMs,
      whenCustomerImpact: o.OPSREVIEW_POSTMORTEM_CUSTOMER_IMPACT === undefined ? d.postmortem.whenCustomerImpact : o.OPSREVIEW_POSTMORTEM_CUSTOMER_IMPACT === 'true',
      ...(o.OPSREVIEW_POSTMORTEM_MIN_SERVICES !== undefined ? { minServices: o.OPSREVIEW_POSTMORTEM_MIN_SERVICES } : d.postmortem.minServices !== undefined ? { minServices: d.postmortem.minServices } : {}),
    }
  }
  if (o.OPSREVIEW_RECURRING_MIN_INCIDENTS !== undefined || o.OPSREVIEW_RECURRING_WINDOW !== undefined) {
    c.recurring = { minIncidents: o.OPSREVIEW_RECURRING_MIN_INCIDENTS ?? d.recurring.minIncidents, windowMs: o.OPSREVIEW_RECURRING_WINDOW ?? d.recurring.windowMs }
  }
  if (o.OPSREVIEW_FLAPPING_MIN_FLAPS !== undefined || o.OPSREVIEW_FLAPPING_WINDOW !== undefined) {
    c.flapping = { minFlaps: o.OPSREVIEW_FLAPPING_MIN_FLAPS ?? d.flapping.minFlaps, windowMs: o.OPSREVIEW_FLAPPING_WINDOW ?? d.flapping.windowMs }
  }
  if (o.OPSREVIEW_SHARED_CAUSE_WINDOW !== undefined || o.OPSREVIEW_SHARED_CAUSE_MIN_SERVICES !== undefined || o.OPSREVIEW_SHARED_CAUSE_LABELS || o.OPSREVIEW_SHARED_CAUSE_EXPORTER_JOBS) {
    c.sharedCause = {
      windowMs: o.OPSREVIEW_SHARED_CAUSE_WINDOW ?? d.sharedCause.windowMs,
      minServices: o.OPSREVIEW_SHARED_CAUSE_MIN_SERVICES ?? d.sharedCause.minServices,
      labels: o.OPSREVIEW_SHARED_CAUSE_LABELS ?? d.sharedCause.labels,
      exporterJobs: o.OPSREVIEW_SHARED_CAUSE_EXPORTER_JOBS ?? d.sharedCause.exporterJobs ?? [],
    }
  }
  if (o.OPSREVIEW_CORRELATOR_RETENTION !== undefined) c.retentionMs = o.OPSREVIEW_CORRELATOR_RETENTION
  if (o.OPSREVIEW_ALLOWED_LATENESS !== undefined) c.allowedLatenessMs = o.OPSREVIEW_ALLOWED_LATENESS
  if (o.OPSREVIEW_FUTURE_TOLERANCE !== undefined) c.futureToleranceMs = o.OPSREVIEW_FUTURE_TOLERANCE
  return c
}
