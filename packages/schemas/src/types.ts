// The shapes the schemas in schemas/ accept. Keep them in step with the JSON files.

export type StringMap = Record<string, string>

export interface AlertmanagerAlert {
  status: 'firing' | 'resolved'
  labels: StringMap & { alertname: string }
  annotations?: StringMap
  startsAt: string
  endsAt?: string
  generatorURL?: string
  fingerprint?: string
}

export interface AlertmanagerWebhook {
  version: '4'
  status: 'firing' | 'resolved'
  receiver: string
  groupKey: string
  truncatedAlerts?: number
  groupLabels?: StringMap
  commonLabels?: StringMap
  commonAnnotations?: StringMap
  externalURL?: string
  alerts: AlertmanagerAlert[]
  [unknown: string]: unknown
}

export type PingdomCheckType =
  | 'HTTP' | 'HTTP_CUSTOM' | 'TCP' | 'PORT_TCP' | 'PING' | 'DNS' | 'UDP' | 'PORT_UDP' | 'SMTP' | 'POP3' | 'IMAP' | 'TRANSACTION'

export interface PingdomWebhook {
  check_id: number
  check_name: string
  check_type: PingdomCheckType
  check_params?: Record<string, unknown>
  tags?: string[]
  previous_state?: string
  current_state: 'UP' | 'DOWN' | 'SUCCESS' | 'FAILING'
  importance_level?: 'HIGH' | 'LOW'
  state_changed_timestamp: number
  state_changed_utc_time?: string
  long_description?: string
  description?: string
  custom_message?: string
  [unknown: string]: unknown
}

export type ReportKind = 'customer-complaint' | 'internal-complaint' | 'manual' | 'capacity-forecast'
export type Severity = 'critical' | 'warning' | 'info'

export interface Report {
  kind: ReportKind
  service: string
  environment?: string
  title: string
  description?: string
  severity: Severity
  reportedBy: string
  occurredAt?: string
  reference?: string
}

export type AlertSource = 'alertmanager' | 'pingdom' | 'report'

/** The canonical alert event (schemas/alert.v1.json). */
export interface AlertEvent {
  id: string
  source: AlertSource
  fingerprint: string
  status: 'firing' | 'resolved'
  severity: Severity
  service: string
  environment: string
  title: string
  description?: string
  labels: StringMap
  startsAt: string
  endsAt?: string
  receivedAt: string
  links: { rel: string; href: string }[]
  origin: Record<string, unknown>
}

export type CommandType =
  | 'incident.assign' | 'incident.acknowledge' | 'incident.note' | 'incident.resolve'
  | 'incident.link-problem' | 'incident.schedule-postmortem'
  | 'problem.confirm' | 'problem.dismiss' | 'problem.resolve' | 'problem.assign' | 'problem.note'

/** A decision of the review (schemas/command.v1.json). */
export interface Command {
  id: string
  type: CommandType
  /** The incident or problem id. */
  target: string
  /** Routes the command to the partition that owns the target. */
  environment: string
  actor: string
  at: string
  owner?: string
  text?: string
  problemId?: string
  scheduledFor?: string
}

export interface IncidentPatch {
  /** Required with a bare token; with a named token the name is the actor (and this may only repeat it). */
  actor?: string
  owner?: string
  acknowledge?: true
  note?: string
  problemId?: string
  resolve?: true
  postmortem?: { scheduledFor: string; owner?: string }
}

export interface ProblemPatch {
  /** As in IncidentPatch. */
  actor?: string
  action?: 'confirm' | 'dismiss' | 'resolve'
  owner?: string
  note?: string
}
