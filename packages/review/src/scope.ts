import type { estypes } from '@elastic/elasticsearch'
import { alertEventCaps, escapePointer, withinCodePoints, type FieldError } from '@opsreview/schemas'
import type { Teams } from './teams.ts'

/**
 * What a review, its Markdown or a look-back is about (docs/review-api.md): environments, services and
 * teams, each as named by the request (or the service's default environments). Empty means all.
 */
export interface Scope {
  environments: string[]
  services: string[]
  teams: string[]
}

/** The scope as Elasticsearch filters need it: null for all. */
export interface ScopeFilter {
  environments: string[] | null
  services: string[] | null
}

export interface ScopeDefaults {
  /** `OPSREVIEW_REVIEW_ENVIRONMENTS`: the environments when a request names none; empty for all. */
  environments: readonly string[]
  teams: Teams
}

/** The query parameters of the scope, on every route that takes one. */
export const SCOPE_PARAMETERS = ['environment', 'service', 'team'] as const
/** `environment=*`: every environment, whatever the default. */
export const ALL_ENVIRONMENTS = '*'
const MAX_VALUES = 50
/** The longest value of each scope parameter, in code points: the event's caps for the names it carries (schemas/alert.v1.json), and a team's. */
export const SCOPE_CAPS = { environment: alertEventCaps.environmentChars, service: alertEventCaps.serviceChars, team: 64 } as const
const CONTROL = /\p{Cc}/u

export const everything: Scope = Object.freeze({ environments: [], services: [], teams: [] }) as Scope

/**
 * `environment`, `service` and `team`, each repeatable. An unknown team is a fault of `/team`; so are
 * over-long or control-character values. An empty value is no value, as in search (`environment=` names
 * no environment, so the defaults' apply); only `environment=*` means every environment.
 */
export function parseScope(raw: Record<string, unknown>, defaults: ScopeDefaults): { ok: true; value: Scope } | { ok: false; errors: FieldError[] } {
  const errors: FieldError[] = []
  const values = (name: (typeof SCOPE_PARAMETERS)[number]): string[] => {
    const v = raw[name]
    if (v === undefined) return []
    const list = (Array.isArray(v) ? v : [v]).filter((x) => x !== '')
    if (list.some((x) => typeof x !== 'string')) { errors.push({ path: `/${name}`, message: 'must be a name' }); return [] }
    if (list.length > MAX_VALUES) { errors.push({ path: `/${name}`, message: `may be given at most ${MAX_VALUES} times` }); return [] }
    for (const x of list as string[]) {
      // In code points, as the schemas bound the names an event carries.
      if (!withinCodePoints(x, SCOPE_CAPS[name]) || CONTROL.test(x)) { errors.push({ path: `/${name}`, message: `must be names of at most ${SCOPE_CAPS[name]} characters without control characters` }); return [] }
    }
    return [...new Set(list as string[])].sort()
  }
  let environments = values('environment')
  const services = values('service')
  const teams = values('team')
  if (environments.includes(ALL_ENVIRONMENTS)) {
    if (environments.length > 1) errors.push({ path: '/environment', message: `${ALL_ENVIRONMENTS} (every environment) is given alone` })
    environments = []
  } else if (environments.length === 0) environments = [...defaults.environments].sort()
  const unknown = teams.filter((t) => !defaults.teams.has(t))
  if (unknown.length > 0) {
    const known = [...defaults.teams.keys()].sort()
    errors.push({ path: '/team', message: `no such team: ${unknown.join(', ')} (${known.length > 0 ? `known: ${known.join(', ')}` : 'no teams are configured (OPSREVIEW_TEAMS_FILE)'})` })
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value: { environments, services, teams } }
}

/**
 * The filter of a scope: services named by `service` and owned by every named `team` (both given: those
 * in both); an empty list then matches nothing, which is the honest answer.
 */
export function scopeFilter(scope: Scope, teams: Teams): ScopeFilter {
  let services: string[] | null = scope.services.length > 0 ? [...scope.services] : null
  for (const t of scope.teams) {
    const owned = new Set(teams.get(t) ?? [])
    services = (services ?? [...owned]).filter((s) => owned.has(s))
  }
  return { environments: scope.environments.length > 0 ? [...scope.environments] : null, services: services === null ? null : [...new Set(services)].sort() }
}

export const unscoped: ScopeFilter = Object.freeze({ environments: null, services: null }) as ScopeFilter

/** Filters of incidents and problems (`environment`, `services`: an incident of any in-scope service). */
export function recordScopeClauses(f: ScopeFilter | undefined): estypes.QueryDslQueryContainer[] {
  if (!f) return []
  return [
    ...(f.environments ? [{ terms: { environment: f.environments } }] : []),
    ...(f.services ? [{ terms: { services: f.services } }] : []),
  ]
}

/** Filters of the alert index's changes (`environment`, `service`). */
export function alertScopeClauses(f: ScopeFilter | undefined): estypes.QueryDslQueryContainer[] {
  if (!f) return []
  return [
    ...(f.environments ? [{ terms: { environment: f.environments } }] : []),
    ...(f.services ? [{ terms: { service: f.services } }] : []),
  ]
}

/** Whether per-service figures of `service` belong in the answer. */
export const serviceInScope = (f: ScopeFilter | undefined, service: string): boolean => !f?.services || f.services.includes(service)

/** The scope in words, for the Markdown answers. */
export function describeScope(scope: Scope): string {
  const part = (what: string, all: string, list: string[]) => (list.length === 0 ? all : `${what} ${list.join(', ')}`)
  const parts = [part(scope.environments.length === 1 ? 'environment' : 'environments', 'every environment', scope.environments)]
  if (scope.services.length > 0) parts.push(part(scope.services.length === 1 ? 'service' : 'services', '', scope.services))
  if (scope.teams.length > 0) parts.push(part(scope.teams.length === 1 ? 'team' : 'teams', '', scope.teams))
  if (scope.services.length === 0 && scope.teams.length === 0) parts.push('every service')
  return parts.join('; ')
}

/**
 * Query parameters a route does not take, one fault each (`/<name>`), so a misspelt or unsupported
 * filter is refused instead of silently ignored.
 */
export function unknownParameters(raw: Record<string, unknown>, known: ReadonlySet<string>): FieldError[] {
  return Object.keys(raw).filter((k) => !known.has(k)).sort().map((k) => ({ path: `/${escapePointer(k)}`, message: `is not a parameter of this route (it takes ${known.size === 0 ? 'none' : [...known].sort().join(', ')})` }))
}

