import { describe, expect, it } from 'vitest'
import incidentPatch from '../../../schemas/incident-patch.v1.json' with { type: 'json' }
import { validateIncidentPatch, validateProblemPatch, validateReport } from './index.ts'

const errorsOf = (v: { ok: true } | { ok: false; errors: { path: string; message: string }[] }) => (v.ok ? [] : v.errors)
const refused = 'must not be blank or hold control characters'

// The review's filters refuse a control character (scope.ts), so a name holding one could be stored and never searched.
describe("a person's name and a report's title", () => {
  it.each(['', '   ', 'ann\u0000', 'line\nbreak', 'tab\there', '\u007f'])('refuse %j, naming the field once', (name) => {
    expect(errorsOf(validateIncidentPatch({ owner: name }))).toEqual([{ path: '/owner', message: refused }])
    expect(errorsOf(validateIncidentPatch({ acknowledge: true, actor: name }))).toEqual([{ path: '/actor', message: refused }])
    expect(errorsOf(validateIncidentPatch({ postmortem: { scheduledFor: '2026-12-07T09:00:00Z', owner: name } }))).toEqual([{ path: '/postmortem/owner', message: refused }])
    expect(errorsOf(validateProblemPatch({ owner: name }))).toEqual([{ path: '/owner', message: refused }])
    expect(errorsOf(validateReport({ kind: 'manual', service: 's', title: name, reportedBy: name }))).toEqual([{ path: '/title', message: refused }, { path: '/reportedBy', message: refused }])
  })

  const taken = ['ann', 'Ann-Marie O’Neill', 'Łukasz', '山田', 'ann\u200dbob', 'ann 😀', 'Team ☀\ufe0f', 'ann 🏴\u{e0067}\u{e0062}\u{e0065}\u{e006e}\u{e0067}\u{e007f}']
  it.each(taken)('take %j', (name) => {
    expect(validateIncidentPatch({ owner: name }).ok).toBe(true)
    expect(validateReport({ kind: 'manual', service: 's', title: name, reportedBy: name }).ok).toBe(true)
  })

  // ' bob' would be another owner than 'bob' to the review's filters, and U+200B alone shows as nobody.
  const invisible = [' bob', 'bob ', '\u200b', '\u200ebob', 'bob\u200f', '\u2066\u2069', '\u3164', 'bob\u00ad', '\ufe0fbob']
  it.each(invisible)('refuse %j as a name, naming the field once, and take it as a title', (name) => {
    const message = 'must start and end with a character that shows, not white space or an invisible one (U+200B, U+200E, a soft hyphen)'
    expect(errorsOf(validateIncidentPatch({ owner: name }))).toEqual([{ path: '/owner', message }])
    expect(errorsOf(validateIncidentPatch({ acknowledge: true, actor: name }))).toEqual([{ path: '/actor', message }])
    expect(errorsOf(validateIncidentPatch({ postmortem: { scheduledFor: '2026-12-07T09:00:00Z', owner: name } }))).toEqual([{ path: '/postmortem/owner', message }])
    expect(errorsOf(validateProblemPatch({ owner: name }))).toEqual([{ path: '/owner', message }])
    expect(errorsOf(validateReport({ kind: 'manual', service: 's', title: name, reportedBy: name }))).toEqual([{ path: '/reportedBy', message }])
  })

  it('reads the name pattern alike with the u flag (ajv) and without it (a client built from the OpenAPI document)', () => {
    const { pattern } = incidentPatch.definitions.name
    for (const name of [...taken, ...invisible]) expect(new RegExp(pattern).test(name), JSON.stringify(name)).toBe(new RegExp(pattern, 'u').test(name))
  })
})

// A blank note is a decision that says nothing, kept on the record for ever.
describe('a note', () => {
  const noteRefused = 'must not be blank or hold control characters other than tabs and line breaks'
  it.each(['', '   ', '\n\t', 'a\u0000b', '\u001b[31mred', '\u0085'])('refuses %j, naming the field', (note) => {
    expect(errorsOf(validateIncidentPatch({ note }))).toEqual([{ path: '/note', message: noteRefused }])
    expect(errorsOf(validateProblemPatch({ note }))).toEqual([{ path: '/note', message: noteRefused }])
  })

  it.each(['Rolled back 4.2.1.', 'Steps:\n1. drain\r\n2.\tswap', ' padded '])('takes %j', (note) => {
    expect(validateIncidentPatch({ note }).ok).toBe(true)
    expect(validateProblemPatch({ note }).ok).toBe(true)
  })
})
