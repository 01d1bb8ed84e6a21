// Elasticsearch with an API key and a private CA. The local Elasticsearch runs without security, so the
// server here is a node:https one with a certificate the test's CA signs, answering as Elasticsearch 8
// does: it proves what the client sends and what it trusts, through the indexer's own configuration
// (indexerConfigSpec: the variables, the _FILE twin, the CA read at start) and the shared builder. A real
// secured cluster (API key privileges, its certificate chain) is not tested here (docs/production-connections.md).
import { once } from 'node:events'
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { Client } from '@elastic/elasticsearch'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readConfig } from '@opsreview/config'
import { elasticsearchConnectionOptions } from '@opsreview/search-index/connection'
import { issueServerCert, makeTestCa, tempDir, type TestCa } from '@opsreview/testing'
import { indexerConfigSpec } from './config.ts'

const API_KEY = 'VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=='
let dir: string
let ca: TestCa
let server: Server
let url: string
const seen: { authorization: string | undefined; path: string | undefined }[] = []

beforeAll(async () => {
  dir = tempDir('es-tls')
  ca = await makeTestCa(dir)
  const cert = await issueServerCert(ca, 'elasticsearch')
  server = createServer({ key: readFileSync(cert.keyFile), cert: readFileSync(cert.certFile) }, (req, res) => {
    seen.push({ authorization: req.headers.authorization, path: req.url })
    // The 8.x client refuses a server that does not say it is Elasticsearch.
    res.writeHead(200, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' })
    res.end(JSON.stringify({ name: 'tls-test', cluster_name: 'opsreview-test', version: { number: '8.19.1' }, tagline: 'You Know, for Search' }))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(async () => { server.closeAllConnections(); await new Promise((r) => server.close(r)) })

function clientFrom(env: Record<string, string>): Client {
  const r = readConfig(indexerConfigSpec, { OPSREVIEW_ES_URL: url, ...env })
  if (!r.ok) throw new Error(r.errors.join('\n'))
  return new Client({ ...elasticsearchConnectionOptions(r.value), maxRetries: 0, requestTimeout: 10_000 })
}

describe('elasticsearch with an API key and a private CA', () => {
  it('sends Authorization: ApiKey <key> from the key file, over TLS verified with the CA file', async () => {
    const keyFile = path.join(dir, 'es-api-key')
    writeFileSync(keyFile, `${API_KEY}\n`)
    const es = clientFrom({ OPSREVIEW_ES_API_KEY_FILE: keyFile, OPSREVIEW_ES_CA: ca.certFile })
    seen.length = 0
    try {
      expect((await es.info()).cluster_name).toBe('opsreview-test')
    } finally {
      await es.close()
    }
    expect(seen).toEqual([{ authorization: `ApiKey ${API_KEY}`, path: '/' }])
  })

  it('sends no Authorization without a key', async () => {
    const es = clientFrom({ OPSREVIEW_ES_CA: ca.certFile })
    seen.length = 0
    try { await es.info() } finally { await es.close() }
    expect(seen).toEqual([{ authorization: undefined, path: '/' }])
  })

  it('refuses the server with another CA, and with the system CAs, before any request is sent', async () => {
    const other = await makeTestCa(tempDir('es-other-ca'), 'some other CA')
    seen.length = 0
    const settings: Record<string, string>[] = [{ OPSREVIEW_ES_CA: other.certFile, OPSREVIEW_ES_API_KEY: API_KEY }, { OPSREVIEW_ES_API_KEY: API_KEY }]
    for (const env of settings) {
      const es = clientFrom(env)
      try {
        await expect(es.info()).rejects.toThrow(/unable to verify the first certificate/)
      } finally {
        await es.close()
      }
    }
    expect(seen).toEqual([])
  })
})
