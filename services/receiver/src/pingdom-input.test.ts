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
