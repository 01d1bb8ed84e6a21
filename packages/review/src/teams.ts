import { readFileSync } from 'node:fs'
import { validateTeams } from '@opsreview/schemas'

/** Team name to the services it owns (schemas/teams.v1.json). */
export type Teams = ReadonlyMap<string, readonly string[]>

export const noTeams: Teams = new Map()

/** schemas/teams.v1.json's rule for a team name (its `propertyNames`). */
export const TEAM_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

/**
 * A teams file's text, validated against schemas/teams.v1.json: every fault is listed, each with its
 * JSON Pointer, so one start-up shows them all. JSON only (no YAML parser in this package).
 */
export function parseTeams(text: string): { ok: true; value: Teams } | { ok: false; errors: string[] } {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    return { ok: false, errors: [`is not JSON: ${(err as Error).message}`] }
  }
  const v = validateTeams(raw)
  if (!v.ok) {
    // ajv's propertyNames faults say the name is wrong but not which one: name each here instead.
    const named = v.errors.filter((e) => !(e.path === '/teams' && /pattern|property name/.test(e.message))).map((e) => `${e.path} ${e.message}`)
    const teams = (raw as { teams?: unknown } | null)?.teams
    const badNames = teams !== null && typeof teams === 'object' ? Object.keys(teams).filter((n) => !TEAM_NAME.test(n)) : []
    return { ok: false, errors: [...named, ...badNames.map((n) => `/teams/${n.replaceAll('~', '~0').replaceAll('/', '~1')} is not a team name: 1 to 64 characters A-Z, a-z, 0-9, ., _ and -, starting with a letter or digit`)] }
  }
  return { ok: true, value: new Map(Object.entries(v.value.teams).map(([name, t]) => [name, [...t.services]])) }
}

/** The teams file at `path`, read once at start; a file that cannot be read is one fault. */
export function loadTeamsFile(path: string): { ok: true; value: Teams } | { ok: false; errors: string[] } {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    return { ok: false, errors: [`cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`] }
  }
  return parseTeams(text)
}
