import type {
  AlertEvent, AlertSource, Command, CommandType, Incident, IncidentAlert, IncidentReport, IncidentStatus, Note, Postmortem,
  Problem, ProblemKind, ProblemSignature, ProblemStatus, Severity,
} from '@opsreview/schemas'

// The incident and the problem are defined once, as JSON Schemas (schemas/incident.v1.json, problem.v1.json);
// these types are generated from them (packages/schemas/scripts/generate-types.ts). A field the engine writes
// starts in the schema. docs/incident-and-problem.md says how to change one.
export type { AlertEvent, AlertSource, Command, CommandType, Severity }
export type { Incident, IncidentAlert, IncidentReport, IncidentStatus, Note, Postmortem, Problem, ProblemKind, ProblemSignature, ProblemStatus }

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
  /**
   * Accepted: the version of the target that shows the command (the review's `?wait=true` waits for the
   * index to hold it). The version the command made, or the target's version when it changed nothing.
   */
  version?: number
}

export type EngineOutput =
  | { type: 'incident'; incident: Incident }
  | { type: 'problem'; problem: Problem }
  | { type: 'command-result'; result: CommandResult }

/** What the engine did with events that did not arrive in order, since it started (snapshots carry them). */
export interface EngineStats {
  /** Events whose time was behind the watermark when they arrived: applied by the late-event rule. */
  late: number
  /**
   * Late events dropped as history the engine may already have applied and forgotten: resolves of alerts older
   * than the retention, and events that would open an incident older than what retention forgot, heard of
   * only before it (docs/correlation-event-time.md).
   */
  lateDropped: number
  /** Events whose sender time lay beyond receipt + the future tolerance. */
  clamped: number
  /** Events waiting for the watermark to pass their time, or held by the late-event rule. */
  pending: number
}
