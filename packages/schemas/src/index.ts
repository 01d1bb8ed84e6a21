import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import addFormatsModule from 'ajv-formats'
import alertmanagerWebhook from '../../../schemas/alertmanager-webhook.v4.json' with { type: 'json' }
import pingdomWebhook from '../../../schemas/pingdom-webhook.json' with { type: 'json' }
import report from '../../../schemas/report.v1.json' with { type: 'json' }
import alertEvent from '../../../schemas/alert.v1.json' with { type: 'json' }
import command from '../../../schemas/command.v1.json' with { type: 'json' }
import incidentPatch from '../../../schemas/incident-patch.v1.json' with { type: 'json' }
import problemPatch from '../../../schemas/problem-patch.v1.json' with { type: 'json' }
import groupingRules from '../../../schemas/grouping-rules.v1.json' with { type: 'json' }
import incident from '../../../schemas/incident.v1.json' with { type: 'json' }
import problem from '../../../schemas/problem.v1.json' with { type: 'json' }
import teams from '../../../schemas/teams.v1.json' with { type: 'json' }
import { isDateTime } from './time.ts'
import type { AlertEvent, AlertmanagerWebhook, AlertSource, Command, IncidentPatch, PingdomWebhook, ProblemPatch, Report, Severity } from './types.ts'
import type { Incident } from './generated/incident.v1.ts'
import type { Problem } from './generated/problem.v1.ts'

export { firstCodePoints, withinCodePoints } from './code-points.ts'

/** One failing field: a JSON Pointer into the input and what is wrong there. */
export interface FieldError {
  path: string
  message: string
}

export type Validation<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] }

// ajv-formats ships CommonJS whose default export is the plugin itself.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

/**
 * A strict instance with the project's formats and the canonical event's definitions, which the sender schemas
 * take their caps from by relative $ref. `allErrors` is an instance's option, hence a function.
 */
function schemaInstance(allErrors: boolean): Ajv {
  const instance = addFormats(new Ajv({ strict: true, allErrors, useDefaults: true }))
  // Replaces ajv-formats' date-time, which accepts what `Date` cannot read (see time.ts), in every schema.
  instance.addFormat('date-time', { type: 'string', validate: isDateTime })
  instance.addSchema(alertEvent)
  return instance
}

// One instance for every schema in schemas/: two instances cannot share $refs.
const ajv = schemaInstance(true)
// A person's name (an owner, an actor, who filed a report), as the decisions and reports take it.
ajv.addSchema(incidentPatch)
// The incident and the problem refer to each other's ids and take their people and texts from the command.
ajv.addSchema(command)
ajv.addSchema(incident)
ajv.addSchema(problem)

function compile<T>(schema: { $id: string }): (input: unknown) => Validation<T> {
  const validate = (ajv.getSchema(schema.$id) ?? ajv.compile(schema)) as ValidateFunction<T>
  return (input) => (validate(input) ? { ok: true, value: input } : { ok: false, errors: toFieldErrors(validate.errors ?? []) })
}

/** What a person's text must be, in words, for the patterns that say it (ajv's message quotes the pattern). */
const PATTERN_MESSAGES = new Map<string, string>([
  // A person's name and a report's title (incident-patch.v1.json).
  [incidentPatch.definitions.printable.pattern, 'must not be blank or hold control characters'],
  // A person's name, of the two patterns the second.
  [incidentPatch.definitions.name.pattern, 'must start and end with a character that shows, not white space or an invisible one (U+200B, U+200E, a soft hyphen)'],
  // A note, which has lines.
  [incidentPatch.definitions.note.pattern, 'must not be blank or hold control characters other than tabs and line breaks'],
  // A label name in a grouping rules file.
  [groupingRules.definitions.labelName.pattern, 'must not start or end with white space or hold control characters: in a rules file that is a typo'],
])

/** Turns ajv's errors into field paths a sender can act on: a missing or unknown property is named. */
export function toFieldErrors(errors: readonly ErrorObject[]): FieldError[] {
  const seen = new Set<string>()
  const out: FieldError[] = []
  // A name that fails `propertyNames` gets its own error (the name's path, what is wrong with it); ajv's
  // generic one beside it ("property name must be valid") then says nothing more.
  const badNames = new Set(errors.filter((e) => e.propertyName !== undefined).map((e) => e.instancePath))
  for (const e of errors) {
    if (e.keyword === 'propertyNames' && badNames.has(e.instancePath)) continue
    let path = e.instancePath || ''
    if (e.propertyName !== undefined) path += `/${escapePointer(e.propertyName)}`
    if (e.keyword === 'required') path += `/${escapePointer((e.params as { missingProperty: string }).missingProperty)}`
    if (e.keyword === 'additionalProperties') path += `/${escapePointer((e.params as { additionalProperty: string }).additionalProperty)}`
    const message = e.keyword === 'enum'
      ? `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`
      : e.keyword === 'const'
        ? `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`
        : (e.keyword === 'pattern' && PATTERN_MESSAGES.get((e.params as { pattern: string }).pattern))
          || `${e.propertyName !== undefined ? 'name ' : ''}${e.message ?? 'is invalid'}`
    const key = `${path || '/'}\u0000${message}`
    if (seen.has(key)) continue
    seen.add(key)
    out.push({ path: path || '/', message })
  }
  return out
}

/** A JSON Pointer token (RFC 6901): `~` and `/` escaped. */
export const escapePointer = (token: string): string => token.replaceAll('~', '~0').replaceAll('/', '~1')

/** Caps of the canonical event that code needs too (to cut a derived text to fit, to pass over a name too long), read from alert.v1.json. */
export const alertEventCaps = Object.freeze({
  serviceChars: alertEvent.definitions.service.maxLength,
  environmentChars: alertEvent.definitions.environment.maxLength,
  titleChars: alertEvent.definitions.title.maxLength,
  textChars: alertEvent.definitions.text.maxLength,
  urlChars: alertEvent.definitions.url.maxLength,
  labels: alertEvent.definitions.labels.maxProperties,
  annotations: alertEvent.definitions.annotations.maxProperties,
})

/** alertmanager-webhook.v4.json's cap on a notification's groupLabels, commonLabels and commonAnnotations. */
export const alertmanagerEnvelopeCaps = Object.freeze({
  mapEntries: alertmanagerWebhook.definitions.stringMap.maxProperties,
})

export const validateAlertmanagerWebhook = compile<AlertmanagerWebhook>(alertmanagerWebhook)

/**
 * A notification in two steps: its envelope (the alerts only an array), then each alert by itself
 * (`validateAlertmanagerAlert`), so that the receiver can bound how many errors it lists. One call over the
 * whole body listed every error of every alert: 16 MiB of alerts of 127 bad labels each made 1.9 million
 * error objects, a gigabyte of heap and 73 s of a blocked event loop.
 */
const alertmanagerEnvelope = {
  ...alertmanagerWebhook,
  $id: 'https://opsreview.dev/schemas/alertmanager-webhook-envelope.v4.json',
  properties: { ...alertmanagerWebhook.properties, alerts: { type: 'array', minItems: 1 } },
}
export const validateAlertmanagerEnvelope = compile<AlertmanagerWebhook>(alertmanagerEnvelope)
const alertmanagerAlert = { $id: 'https://opsreview.dev/schemas/alertmanager-alert.v4.json', ...alertmanagerWebhook.properties.alerts.items }
export const validateAlertmanagerAlert = compile<AlertmanagerWebhook['alerts'][number]>(alertmanagerAlert)

// The same alert schema, stopping at its first error: past the errors the receiver lists, the rest of a
// malformed notification's alerts are only told apart, taken or refused, at a cost that does not grow with
// their errors.
const firstErrorOfAlert = schemaInstance(false).compile<AlertmanagerWebhook['alerts'][number]>(alertmanagerAlert)
export const validateAlertmanagerAlertToFirstError = (input: unknown): Validation<AlertmanagerWebhook['alerts'][number]> =>
  firstErrorOfAlert(input) ? { ok: true, value: input } : { ok: false, errors: toFieldErrors(firstErrorOfAlert.errors ?? []) }
export const validatePingdomWebhook = compile<PingdomWebhook>(pingdomWebhook)
export const validateReport = compile<Report>(report)
export const validateAlertEvent = compile<AlertEvent>(alertEvent)
export const validateCommand = compile<Command>(command)
export const validateIncidentPatch = compile<IncidentPatch>(incidentPatch)
export const validateProblemPatch = compile<ProblemPatch>(problemPatch)
/** A grouping rules file as read (JSON or YAML); its type and compiled form live in @opsreview/grouping. */
export const validateGroupingRules = compile<Record<string, unknown>>(groupingRules)
/** The records the correlator publishes (schemas/incident.v1.json, problem.v1.json). */
export const validateIncident = compile<Incident>(incident)
export const validateProblem = compile<Problem>(problem)
/** The review's teams file (OPSREVIEW_TEAMS_FILE): team name to the services it owns. */
export const validateTeams = compile<{ version: 1; teams: Record<string, { services: string[] }> }>(teams)
/** The JSON Schemas themselves, for what is derived from them (the Elasticsearch mappings and their checks). */
export const recordSchemas = Object.freeze({ incident, problem })
/** The severities of schemas/alert.v1.json, most severe first (the schema lists them in that order). */
export const SEVERITIES = Object.freeze(alertEvent.properties.severity.enum) as readonly Severity[]
export const SOURCES = Object.freeze(alertEvent.properties.source.enum) as readonly AlertSource[]

export { isDateTime, parseDateTime, MAX_INSTANT_MS, MIN_INSTANT_MS } from './time.ts'
export type * from './types.ts'
// Generated from the JSON Schemas by scripts/generate-types.ts (pnpm generate); Note is in both, taken once.
export type { Incident, IncidentAlert, IncidentReport, IncidentStatus, Note, Postmortem } from './generated/incident.v1.ts'
export type { Problem, ProblemKind, ProblemSignature, ProblemStatus } from './generated/problem.v1.ts'
