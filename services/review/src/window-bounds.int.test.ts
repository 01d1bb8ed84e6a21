import { describe, expect, it, onTestFinished } from 'vitest'
import { ensureIndices } from '@opsreview/search-index/templates'
import { captureLogs, cleanupIndices, esClient, serve, uniqueName } from '@opsreview/testing'
import { createReviewApp, defaultPublicDir } from './app.ts'
import { NOW } from './fuzz-seed.ts'

const READ = 'read-token'

/** A review app at NOW over its own empty indices; `searches()` counts the searches sent so far. */
async function start() {
  const es = esClient()
  onTestFinished(() => es.close())
  const prefix = uniqueName('window')
  cleanupIndices(prefix)
  await ensureIndices(es, prefix)
  let searches = 0
  es.diagnostic.on('request', (_err, meta) => { if (meta?.meta.request.params.path.endsWith('/_search')) searches++ })
  const { logger } = captureLogs()
  const url = await serve(createReviewApp({
    es, commands: { publish: async () => { throw new Error('no decisions in these tests') } }, commandsTopic: 'unused', logger, clock: () => new Date(NOW),
    readTokens: [READ], writeTokens: ['write-token'], indexPrefix: prefix, waitTimeoutMs: 500, publicDir: defaultPublicDir,
    deadLetters: async () => { throw new Error('not counted here') },
  }))
  const get = async (path: string) => {
    const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${READ}` } })
    return { status: res.status, body: await res.json() as { errors?: unknown; window?: unknown } }
  }
  return { get, searches: () => searches }
}

describe('the review window stays within 1970 to 9999 (real Elasticsearch)', () => {
  it('refuses a to in the first day of 1970 with from left out, naming /to, before any search', async () => {
    const { get, searches } = await start()
    for (const path of ['/api/v1/review?to=1970-01-01', '/api/v1/review?to=1970-01-01T12:00:00Z', '/api/v1/review.md?to=1970-01-01']) {
      const r = await get(path)
      expect(r.status, path).toBe(400)
      expect(r.body.errors, path).toEqual([{ path: '/to', message: 'must be at least 24 h after 1970-01-01T00:00:00Z when from is left out (from is then 24 h before to)' }])
    }
    expect(searches()).toBe(0)
  })

  it('answers the first and the last day the API holds', async () => {
    const { get } = await start()
    expect(await get('/api/v1/review?to=1970-01-02')).toMatchObject({ status: 200, body: { window: { from: '1970-01-01T00:00:00.000Z', to: '1970-01-02T00:00:00.000Z' } } })
    expect(await get('/api/v1/review?to=9999-12-31T23:59:59.999Z')).toMatchObject({ status: 200, body: { window: { from: '9999-12-30T23:59:59.999Z', to: '9999-12-31T23:59:59.999Z' } } })
  })
})
