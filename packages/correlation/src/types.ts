import type { AlertEvent, AlertSource, Command, CommandType, Severity } from '@opsreview/schemas'

export type { AlertEvent, AlertSource, Command, CommandType, Severity }

/** One alert as a member of an incident. */
export interface IncidentAlert {
  key: string
  fingerprint: string
  source: AlertSource
  name: string
  title: string
  service: string
  severity: Severity
  status: 'firing' | 'resolved'
  firstSeenAt: string
  lastSeenAt: string
  resolvedAt: string | null
  /** Times it fired again after resolving. */
  flapCount: number
  /** Resolved by the staleness timeout, not by its sender. */
  autoResolved: boolean
}

/** A person's report attached to an incident: evidence of customer impact, never a member. */
export interface IncidentReport {
  eventId: string
  kind: string
  title: string
  reportedBy: string
  at: string
}

export interface Note {
  at: string
  author: string
  text: string
}

export interface Incident {
  id: string
  title: string
  status: 'open' | 'resolved'
  severity: Severity
  services: string[]
  environment: string
  groupKey: string
  openedAt: string
  resolvedAt: string | null
  resolvedBy: 'alerts' | 'staleness' | 'manual' | null
  lastEventAt: string
  alertCount: number
  alerts: IncidentAlert[]
  reports: IncidentReport[]
  customerImpact: boolean
  owner: string | null
  acknowledgedAt: string | null
  acknowledgedBy: string | null
  problemIds: string[]
  postmortem: { required: boolean; reasons: string[]; scheduledFor: string | null; owner: string | null }
  notes: Note[]
  reopenCount: number
  version: number
}

export type ProblemKind = 'recurring' | 'flapping' | 'shared-cause'

/**
 * What makes two incidents the same problem, per rule. A problem's id is a hash of its signature's
 * canonical JSON (keys in this order), and `Problem.signature` is that JSON.
 */
export type ProblemSignature =
  | { kind: 'recurring'; environment: string; service: string; alertNames: string[] }
  | { kind: 'flapping'; environment: string; source: AlertSource; fingerprint: string }
  | { kind: 'shared-cause'; environment: string; label: string; value: string }
export type ProblemStatus = 'candidate' | 'confirmed' | 'dismissed' | 'resolved'

export interface Problem {
  id: string
  kind: ProblemKind
  status: ProblemStatus
  title: string
  /** The canonical JSON of its `ProblemSignature`. */
  signature: string
  services: string[]
  environment: string
  incidentIds: string[]
  incidentCount: number
  firstSeenAt: string
  lastSeenAt: string
  owner: string | null
  notes: Note[]
  version: number
}

export type EngineInput =
  | { type: 'alert'; event: AlertEvent }
  | { type: 'command'; command: Command }
  | { type: 'tick'; at: string }

export interface CommandResult {
  commandId: string
  type: CommandType
  target: string
  ok: boolean
  error?: string
}

export type EngineOutput =
  | { type: 'incident'; incident: Incident }
  | { type: 'problem'; problem: Problem }
  | { type: 'command-result'; result: CommandResult }

/** What the engine did with events that did not arrive in order, since it started (snapshots carry them). */
export interface EngineStats {
  /** Events whose time was behind the watermark when they arrived: applied by the late-event rule. */
  late: number
  /** Late resolves for alerts already forgotten (older than the retention): dropped. */
  lateDropped: number
  /** Events whose sender time lay beyond receipt + the future tolerance. */
  clamped: number
  /** Events waiting for the watermark to pass their time. */
  pending: number
}
