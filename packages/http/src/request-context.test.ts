import express from 'express'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { serve } from '@opsreview/testing'
import { requestContext } from './request-context.ts'

/** An app whose log lines are kept, parsed, in `lines`. */
async function app(route: (a: express.Express) => void) {
  const lines: Record<string, unknown>[] = []
  const logger = pino({ level: 'info' }, { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>) } })
  const a = express()
  a.use(requestContext(logger))
  route(a)
  return { url: await serve(a), lines }
}

describe('requestContext', () => {
  it("binds each request's own id to its logger, also when requests overlap", async () => {
    const { url, lines } = await app((a) => {
      a.get('/slow/:n', (req, res) => {
        // The first request logs after the second began: each must still log under its own id.
        setTimeout(() => { req.log.info({ n: req.params.n }, 'handled'); res.json({ id: req.id }) }, req.params.n === '1' ? 50 : 0)
      })
    })
    const [first, second] = await Promise.all([fetch(`${url}/slow/1`), fetch(`${url}/slow/2`)])
    const ids = [first.headers.get('x-request-id'), second.headers.get('x-request-id')]
    expect(ids[0]).not.toBe(ids[1])
    expect(await first.json()).toEqual({ id: ids[0] })
    const handled = lines.filter((l) => l.msg === 'handled').map((l) => [l.n, l.reqId])
    expect(handled).toEqual(expect.arrayContaining([['1', ids[0]], ['2', ids[1]]]))
  })

  it('gives no logger to a request that has not reached it yet, even after other requests have', async () => {
    const lines: unknown[] = []
    const a = express()
    a.use((req, res, next) => { if (req.path === '/early') { res.json({ log: typeof req.log }); return } next() })
    a.use(requestContext(pino({}, { write: (line: string) => { lines.push(line) } })))
    a.get('/late', (req, res) => { res.json({ log: typeof req.log }) })
    const url = await serve(a)
    expect(await (await fetch(`${url}/late`)).json()).toEqual({ log: 'object' })
    expect(await (await fetch(`${url}/early`)).json()).toEqual({ log: 'undefined' })
  })

  it("keeps the caller's X-Request-Id when it is sane, and replaces one that is not", async () => {
    const { url } = await app((a) => { a.get('/', (req, res) => { res.json({ id: req.id }) }) })
    const kept = await fetch(url, { headers: { 'x-request-id': 'am-retry.42:x' } })
    expect(kept.headers.get('x-request-id')).toBe('am-retry.42:x')
    const replaced = await fetch(url, { headers: { 'x-request-id': 'no spaces allowed' } })
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    expect(await replaced.json()).toEqual({ id: replaced.headers.get('x-request-id') })
  })

  it('logs a 4xx at info with the request id, unless a handler made its logger quieter', async () => {
    const { url, lines } = await app((a) => {
      a.get('/rejected', (_req, res) => { res.status(422).json({}) })
      a.get('/quiet', (req, res) => { req.log = req.log.child({}, { level: 'warn' }); res.status(401).json({}) })
    })
    const rejected = await fetch(`${url}/rejected`)
    await fetch(`${url}/quiet`)
    await new Promise((r) => setTimeout(r, 20))
    expect(lines.filter((l) => l.msg === 'request rejected')).toEqual([
      expect.objectContaining({ reqId: rejected.headers.get('x-request-id'), path: '/rejected', status: 422 }),
    ])
  })
})
