import { describe, expect, it } from 'vitest'
import { fixture, serve } from '@opsreview/testing'
import { fakeReceiver, TEST_NOW, TEST_TOKEN } from './test-fakes.ts'

// Pingdom's inputs at the edge: what its URL and its message may hold, in-process with the fakes.
const down = fixture<Record<string, unknown>>('pingdom/pingdom-http-down.json')
/** The fixture, a minute before the fake clock: inside the time bounds. */
const message = (patch: Record<string, unknown> = {}) => ({ ...down, state_changed_timestamp: TEST_NOW.getTime() / 1000 - 60, ...patch })

async function pingdom(query: string, body: unknown = message()) {
  const r = fakeReceiver()
  const url = await serve(r.app)
  const res = await fetch(`${url}/webhooks/pingdom${query}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })
  return { status: res.status, body: await res.json() as Record<string, unknown>, spooled: r.spool.records.length }
}

describe('a Pingdom check name', () => {
  it.each(['', '   ', '\u3000', 'shop\u0000api', 'shop\napi', '\u001b[31mred'])('%j is a 400 naming /check_name, and nothing is spooled', async (name) => {
    const r = await pingdom(`?token=${TEST_TOKEN}`, message({ check_name: name }))
    expect(r.status).toBe(400)
    expect(r.body).toMatchObject({ code: 'VALIDATION_FAILED' })
    expect(r.body.errors).toContainEqual({ path: '/check_name', message: 'must not be blank or hold control characters' })
    expect(r.spooled).toBe(0)
  })

  it('takes any printable name, as Pingdom does', async () => {
    const r = await pingdom(`?token=${TEST_TOKEN}`, message({ check_name: 'Café – 山田 ✓ (prod) 🚀' }))
    expect(r.status).toBe(202)
    expect(r.spooled).toBe(1)
  })
})

describe('a Pingdom message of long texts', () => {
  // Each text within its cap in characters, yet four copies of it (the description and the three originals
  // it is made of), or a probe's long value, made an event over the intake's cap in bytes: a 400 at `/`.
  it.each([
    ['a long description of emoji', { long_description: '😀'.repeat(20_000) }],
    ['two long texts in Japanese', { description: 'あ'.repeat(20_000), long_description: 'あ'.repeat(20_000) }],
    ['a probe with a long value', { first_probe: { ip: '192.0.2.1', location: 'x'.repeat(140_000) } }],
  ])('%s is taken (202), cut to fit, not refused: Pingdom does not retry', async (_name, patch) => {
    const r = await pingdom(`?token=${TEST_TOKEN}`, message(patch))
    expect(r.body).toMatchObject({ accepted: 1 })
    expect(r.status).toBe(202)
    expect(r.spooled).toBe(1)
  })
})

describe('a Pingdom token in the URL', () => {
  it('is a 400 naming /token when a valid token is given more than once', async () => {
    for (const query of [`?token=${TEST_TOKEN}&token=${TEST_TOKEN}`, `?token=${TEST_TOKEN}&token=`]) {
      const r = await pingdom(query)
      expect(r.status, query).toBe(400)
      expect(r.body, query).toMatchObject({ code: 'INVALID_QUERY', errors: [{ path: '/token', message: 'must be given once' }] })
      expect(r.spooled, query).toBe(0)
    }
  })

  it('is a 401 when its values differ, a valid one among them or not: a 400 would tell that one of them was right', async () => {
    for (const query of ['?token=a&token=b', `?token=wrong&token=${TEST_TOKEN}`]) {
      const r = await pingdom(query)
      expect(r.status, query).toBe(401)
      expect(r.body, query).toMatchObject({ code: 'UNAUTHORIZED', detail: 'The token is not valid' })
    }
  })

  // A malformed token is answered as a wrong one, word for word: its shape says nothing of the tokens there are.
  it.each(['x', 'é', '%ED%A0%80', '%00', '%20' + TEST_TOKEN, `${TEST_TOKEN}%0A`, 'x'.repeat(4000), TEST_TOKEN.toUpperCase()])('is a 401 UNAUTHORIZED for the malformed or unknown token %s, never a 5xx', async (token) => {
    const r = await pingdom(`?token=${token}`)
    expect(r.status).toBe(401)
    expect(r.body).toEqual({ type: 'https://opsreview.dev/problems/unauthorized', title: 'Missing or invalid token', status: 401, code: 'UNAUTHORIZED', detail: 'The token is not valid' })
    expect(r.spooled).toBe(0)
  })

  it('is a 401 saying a token is required when it is empty or absent', async () => {
    for (const query of ['', '?token=', '?token=&token=', '?tokens=' + TEST_TOKEN]) {
      expect(await pingdom(query), query).toMatchObject({ status: 401, body: { code: 'UNAUTHORIZED', detail: 'A bearer token is required' } })
    }
  })
})
