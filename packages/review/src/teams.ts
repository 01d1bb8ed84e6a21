import { readFileSync } from 'node:fs'
import { validateTeams } from '@opsreview/schemas'

/** Team name to the services it owns (schemas/teams.v1.json). */
export type Teams = ReadonlyMap<string, readonly string[]>

export const noTeams: Teams = new Map()

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
    // A bad team name is named by its own path (`/teams/<name>`, "name must match pattern …"): said in words.
    const isTeamName = (path: string, message: string) => message.startsWith('name ') && /^\/teams\/[^/]+$/.test(path)
    return { ok: false, errors: v.errors.map((e) => `${e.path} ${isTeamName(e.path, e.message) ? 'is not a team name: 1 to 64 characters A-Z, a-z, 0-9, ., _ and -, starting with a letter or digit' : e.message}`) }
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
