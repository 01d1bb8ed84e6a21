import { describe, expect, it } from 'vitest'
import { alertScopeClauses, describeScope, parseScope, recordScopeClauses, scopeFilter, unknownParameters } from './scope.ts'
import { parseTeams } from './teams.ts'

const teams = new Map([['payments', ['checkout', 'billing']], ['search', ['search']]])
const defaults = { environments: ['production'], teams }

describe('scope of the review and look-back', () => {
  it('takes the default environments when none is named, and * for every one', () => {
    expect(parseScope({}, defaults)).toEqual({ ok: true, value: { environments: ['production'], services: [], teams: [] } })
    expect(parseScope({ environment: '*' }, defaults)).toEqual({ ok: true, value: { environments: [], services: [], teams: [] } })
    expect(parseScope({ environment: ['staging', 'production', 'staging'] }, defaults)).toEqual({ ok: true, value: { environments: ['production', 'staging'], services: [], teams: [] } })
  })

  it('takes an empty value for no value, as search does: environment= keeps the default environments', () => {
    const production = { ok: true, value: { environments: ['production'], services: [], teams: [] } }
    expect(parseScope({ environment: '' }, defaults)).toEqual(production)
    expect(parseScope({ environment: ['', ''], service: '', team: '' }, defaults)).toEqual(production)
    expect(parseScope({ environment: ['', 'staging'] }, defaults)).toEqual({ ok: true, value: { environments: ['staging'], services: [], teams: [] } })
  })

  it('names every fault: an unknown team, * with others, a control character', () => {
    const r = parseScope({ team: ['payments', 'nope'], environment: ['*', 'production'], service: 'a\nb' }, defaults)
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.errors.map((e) => e.path).sort()).toEqual(['/environment', '/service', '/team'])
    expect(r.errors.find((e) => e.path === '/team')?.message).toContain('nope')
  })

  it('bounds a name in code points, as the schemas bound the service an event carries', () => {
    // 200 emoji are 400 UTF-16 units: a service the receivers take (256 code points at most) must be filterable.
    const emoji = '🚀'.repeat(200)
    expect(parseScope({ service: emoji }, defaults)).toEqual({ ok: true, value: { environments: ['production'], services: [emoji], teams: [] } })
    expect(parseScope({ service: '🚀'.repeat(257) }, defaults)).toMatchObject({ ok: false, errors: [{ path: '/service' }] })
    expect(parseScope({ service: 'x\u0085y' }, defaults)).toMatchObject({ ok: false, errors: [{ path: '/service' }] })
  })

  it('narrows services to the teams\' and filters incidents and alerts by them', () => {
    const only = (q: Record<string, unknown>) => { const r = parseScope(q, defaults); if (!r.ok) throw new Error(JSON.stringify(r.errors)); return r.value }
    expect(scopeFilter(only({ team: 'payments' }), teams)).toEqual({ environments: ['production'], services: ['billing', 'checkout'] })
    expect(scopeFilter(only({ team: 'payments', service: ['checkout', 'search'] }), teams).services).toEqual(['checkout'])
    expect(scopeFilter(only({ team: ['payments', 'search'] }), teams).services).toEqual([])
    const f = scopeFilter(only({ service: 'checkout', environment: 'staging' }), teams)
    expect(recordScopeClauses(f)).toEqual([{ terms: { environment: ['staging'] } }, { terms: { services: ['checkout'] } }])
    expect(alertScopeClauses(f)).toEqual([{ terms: { environment: ['staging'] } }, { terms: { service: ['checkout'] } }])
    expect(recordScopeClauses(scopeFilter(only({ environment: '*' }), teams))).toEqual([])
    expect(describeScope(only({ team: 'payments' }))).toBe('environment production; team payments')
    expect(describeScope(only({ environment: '*' }))).toBe('every environment; every service')
  })

  it('refuses unknown query parameters by name, as JSON Pointers', () => {
    expect(unknownParameters({ since: '24h', enviroment: 'production', 'a/b': 'x' }, new Set(['since']))).toEqual([
      { path: '/a~1b', message: expect.stringContaining('since') }, { path: '/enviroment', message: expect.stringContaining('since') },
    ])
  })
})

describe('teams file', () => {
  it('reads a valid file', () => {
    const t = parseTeams(JSON.stringify({ version: 1, teams: { payments: { services: ['checkout'] } } }))
    expect(t).toEqual({ ok: true, value: new Map([['payments', ['checkout']]]) })
  })

  it('lists every fault with its place', () => {
    const t = parseTeams(JSON.stringify({ version: 2, teams: { 'bad name': { services: ['a'] }, empty: { services: [] }, dup: { services: ['a', 'a'] }, extra: { services: ['a'], owner: 'x' } } }))
    expect(t.ok).toBe(false)
    if (t.ok) return
    expect(t.errors.join('\n')).toMatch(/\/version/)
    expect(t.errors.join('\n')).toMatch(/\/teams\/empty\/services/)
    expect(t.errors.join('\n')).toMatch(/\/teams\/dup\/services/)
    expect(t.errors.join('\n')).toMatch(/\/teams\/extra\/owner/)
    expect(t.errors).toContain('/teams/bad name is not a team name: 1 to 64 characters A-Z, a-z, 0-9, ., _ and -, starting with a letter or digit')
    expect(t.errors.join('\n')).not.toMatch(/property name must be valid/)
    expect(parseTeams('{').ok).toBe(false)
  })
})
