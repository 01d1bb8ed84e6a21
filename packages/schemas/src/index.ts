import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import addFormatsModule from 'ajv-formats'
import alertmanagerWebhook from '../../../schemas/alertmanager-webhook.v4.json' with { type: 'json' }
import pingdomWebhook from '../../../schemas/pingdom-webhook.json' with { type: 'json' }
import report from '../../../schemas/report.v1.json' with { type: 'json' }
import alertEvent from '../../../schemas/alert.v1.json' with { type: 'json' }
import command from '../../../schemas/command.v1.json' with { type: 'json' }
import incidentPatch from '../../../schemas/incident-patch.v1.json' with { type: 'json' }
import problemPatch from '../../../schemas/problem-patch.v1.json' with { type: 'json' }
import type { AlertEvent, AlertmanagerWebhook, Command, IncidentPatch, PingdomWebhook, ProblemPatch, Report } from './types.ts'

/** One failing field: a JSON Pointer into the input and what is wrong there. */
export interface FieldError {
  path: string
  message: string
}

export type Validation<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] }

// ajv-formats ships CommonJS whose default export is the plugin itself.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

// One strict instance for every schema in schemas/: two instances cannot share $refs.
const ajv = addFormats(new Ajv({ strict: true, allErrors: true, useDefaults: true }))

function compile<T>(schema: object): (input: unknown) => Validation<T> {
  const validate = ajv.compile(schema) as ValidateFunction<T>
  return (input) => (validate(input) ? { ok: true, value: input } : { ok: false, errors: toFieldErrors(validate.errors ?? []) })
}

/** Turns ajv's errors into field paths a sender can act on: a missing or unknown property is named. */
export function toFieldErrors(errors: readonly ErrorObject[]): FieldError[] {
  const seen = new Set<string>()
  const out: FieldError[] = []
  for (const e of errors) {
    let path = e.instancePath || ''
    if (e.keyword === 'required') path += `/${(e.params as { missingProperty: string }).missingProperty}`
    if (e.keyword === 'additionalProperties') path += `/${(e.params as { additionalProperty: string }).additionalProperty}`
    const message = e.keyword === 'enum'
      ? `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`
      : e.keyword === 'const'
        ? `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`
        : e.message ?? 'is invalid'
    const key = `${path || '/'}\u0000${message}`
    if (seen.has(key)) continue
    seen.add(key)
    out.push({ path: path || '/', message })
  }
  return out
}

export const validateAlertmanagerWebhook = compile<AlertmanagerWebhook>(alertmanagerWebhook)
export const validatePingdomWebhook = compile<PingdomWebhook>(pingdomWebhook)
export const validateReport = compile<Report>(report)
export const validateAlertEvent = compile<AlertEvent>(alertEvent)
export const validateCommand = compile<Command>(command)
export const validateIncidentPatch = compile<IncidentPatch>(incidentPatch)
export const validateProblemPatch = compile<ProblemPatch>(problemPatch)

export type * from './types.ts'
