import express from 'express'
import { describe, expect, it } from 'vitest'
import { serve } from '@opsreview/testing'
import { parseTokenEntries, tokenAuth, type BearerToken } from './auth.ts'
import { problemHandler } from './problem.ts'

describe('parseTokenEntries', () => {
  it('reads name:secret as a named token and a bare secret as an unnamed one', () => {
    expect(parseTokenEntries(['dana:secret1', ' erin:secret2 ', 'bare-secret'])).toEqual({ ok: true, value: [{ name: 'dana', secret: 'secret1' }, { name: 'erin', secret: 'secret2' }, { secret: 'bare-secret' }] })
  })

  it('splits at the first colon: the secret may hold more', () => {
    expect(parseTokenEntries(['dana:a:b'])).toEqual({ ok: true, value: [{ name: 'dana', secret: 'a:b' }] })
  })

  it.each([
    [[':secret'], /entry 1: a name/],
    [['da na:secret'], /entry 1: a name/],
    [['dana:'], /entry 1 \(dana\) has no secret/],
    [['dana:one', 'dana:two'], /name dana is given twice/],
    [['dana:same', 'erin:same'], /secret is given twice/],
    [['ok', ''], /entry 2 is empty/],
  ])('refuses %j', (entries, error) => {
    const r = parseTokenEntries(entries)
    expect(r.ok).toBe(false)
    if (!r.ok) {
      expect(r.error).toMatch(error)
      // A secret is never quoted back (it would end up in the service's start-up log).
      for (const e of entries) if (e.includes(':')) expect(r.error).not.toContain(e.slice(e.indexOf(':') + 1) || '\u0000')
    }
  })
})

describe('parseTokenEntries, several faults', () => {
  it('names every faulty entry at once, not the first alone, and quotes no secret', () => {
    const r = parseTokenEntries([':s3cretA', 'dana:', 'ok:s3cretB', 'ok:s3cretC', 'x:s3cretD', 'y:s3cretD'])
    expect(r).toEqual({ ok: false, error: 'entry 1: a name before \':\' must be 1 to 200 letters, digits or . _ @ + -; entry 2 (dana) has no secret after \':\'; entry 4: the name ok is given twice; a secret is given twice' })
    if (!r.ok) expect(r.error).not.toMatch(/s3cret/)
  })
})

describe('tokenAuth', () => {
  async function app(tokens: (string | BearerToken)[]) {
    const a = express()
    a.get('/', tokenAuth(tokens), (req, res) => { res.json({ name: req.tokenName ?? null }) })
    a.use(problemHandler)
    return serve(a)
  }
  const get = (base: string, token?: string) => fetch(base, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })

  it('puts the name of a named token on the request, and none for a bare one', async () => {
    const base = await app([{ name: 'dana', secret: 'secret1' }, { name: 'erin', secret: 'secret2' }, { secret: 'bare' }, 'plain'])
    expect(await (await get(base, 'secret1')).json()).toEqual({ name: 'dana' })
    expect(await (await get(base, 'secret2')).json()).toEqual({ name: 'erin' })
    expect(await (await get(base, 'bare')).json()).toEqual({ name: null })
    expect(await (await get(base, 'plain')).json()).toEqual({ name: null })
  })

  it('reads ?token= only where allowed, and answers a repeated one 400 naming /token once it authenticates, else 401', async () => {
    const a = express()
    a.get('/query', tokenAuth([{ name: 'dana', secret: 'secret1' }], { allowQueryToken: true }), (req, res) => { res.json({ name: req.tokenName ?? null }) })
    a.get('/header', tokenAuth(['secret1']), (_req, res) => { res.json({}) })
    a.use(problemHandler)
    const base = await serve(a)
    const body = async (path: string, headers: Record<string, string> = {}) => { const r = await fetch(`${base}${path}`, { headers }); return { status: r.status, body: await r.json() as Record<string, unknown> } }
    expect(await body('/query?token=secret1')).toEqual({ status: 200, body: { name: 'dana' } })
    expect(await body('/header?token=secret1')).toMatchObject({ status: 401, body: { detail: 'A bearer token is required' } })
    expect(await body('/query?token=secret1&token=secret1')).toMatchObject({ status: 400, body: { code: 'INVALID_QUERY', errors: [{ path: '/token', message: 'must be given once' }] } })
    // The header authenticates; the query is still malformed.
    expect(await body('/query?token=a&token=b', { authorization: 'Bearer secret1' })).toMatchObject({ status: 400, body: { errors: [{ path: '/token' }] } })
    expect(await body('/query?token=a&token=b')).toMatchObject({ status: 401, body: { code: 'UNAUTHORIZED', detail: 'The token is not valid' } })
  })

  it('weighs differing values of a repeated ?token= as one wrong token, not as a guess each', async () => {
    const a = express()
    a.get('/query', tokenAuth(['secret1'], { allowQueryToken: true }), (_req, res) => { res.json({}) })
    a.use(problemHandler)
    const base = await serve(a)
    // Hundreds of guesses in one request, the right one among them: were each tried, the 400 of a repeated
    // valid token would tell that one was right, and halving the list would find which.
    const guesses = Array.from({ length: 300 }, (_, i) => `token=guess${i}`)
    for (const query of [[...guesses, 'token=secret1'], ['token=secret1', 'token=nope'], guesses]) {
      const r = await fetch(`${base}/query?${query.join('&')}`)
      expect({ status: r.status, body: await r.json() as unknown }, query.at(-1)).toMatchObject({ status: 401, body: { code: 'UNAUTHORIZED', detail: 'The token is not valid' } })
    }
  })

  it('refuses a missing token, a wrong one, and the name:secret entry itself', async () => {
    const base = await app([{ name: 'dana', secret: 'secret1' }])
    expect((await get(base)).status).toBe(401)
    expect((await get(base, 'secret2')).status).toBe(401)
    expect((await get(base, 'dana:secret1')).status).toBe(401)
    expect((await get(base, 'dana')).status).toBe(401)
  })
})
