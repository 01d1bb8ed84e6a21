import { createServer, type Socket } from 'node:net'
import { describe, expect, it, onTestFinished } from 'vitest'
import { Client } from '@elastic/elasticsearch'
import { esClient, uniqueName } from '@opsreview/testing'
import { readLiveRun } from './live.ts'

const range = { from: '2026-01-01T01:00:00.000Z', to: '2026-01-01T02:00:00.000Z', readFrom: '2026-01-01T00:00:00.000Z' }

describe('readLiveRun and its abort signal (Ctrl-C)', () => {
  it('an already-aborted signal rejects with its reason, before any request, against the real Elasticsearch', async () => {
    const es = esClient()
    onTestFinished(() => es.close())
    const reason = new Error('interrupted')
    await expect(readLiveRun(es, uniqueName('live-aborted'), range, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
  })

  it('an abort cuts the request under way short and rejects with its reason, not after the request timeout', async () => {
    // An Elasticsearch that takes the request and never answers; the interruption comes once the request is
    // under way. Its timeout is far past the test's: only the abort can end the read in time.
    const interruption = new AbortController()
    const reason = new Error('interrupted')
    const sockets = new Set<Socket>()
    const server = createServer((s) => { sockets.add(s); s.once('data', () => interruption.abort(reason)) })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    onTestFinished(() => { for (const s of sockets) s.destroy(); server.close() })
    const { port } = server.address() as { port: number }
    const es = new Client({ node: `http://127.0.0.1:${port}`, requestTimeout: 600_000, maxRetries: 0 })
    onTestFinished(() => es.close())
    await expect(readLiveRun(es, 'opsreview', range, { signal: interruption.signal })).rejects.toBe(reason)
  })
})
