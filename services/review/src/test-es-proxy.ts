// The real Elasticsearch behind a loopback proxy a test can cut or stall: the review's client sees a
// connection refused (and its open connections reset), or requests that get no answer, exactly when the test
// says, and the same cluster again after.
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { onTestFinished } from 'vitest'
import { Client } from '@elastic/elasticsearch'
import { elasticsearchUrl } from '@opsreview/testing'

export async function cuttableElasticsearch() {
  const target = new URL(elasticsearchUrl)
  const sockets = new Set<net.Socket>()
  let down = false
  let stalled = false
  // What clients sent while stalled, per connection, in order: sent on when restored.
  const held = new Map<net.Socket, { upstream: net.Socket; chunks: Buffer[] }>()
  const server = net.createServer((client) => {
    if (down) { client.destroy(); return }
    const upstream = net.connect(Number(target.port || 9200), target.hostname)
    for (const s of [client, upstream]) { sockets.add(s); s.once('close', () => { sockets.delete(s); held.delete(client) }); s.on('error', () => undefined) }
    const link = { upstream, chunks: [] as Buffer[] }
    held.set(client, link)
    // Not piped: a stalled proxy holds the requests, and a connection opened while stalled is held too.
    client.on('data', (chunk: Buffer) => { if (stalled) link.chunks.push(chunk); else upstream.write(chunk) })
    client.once('end', () => upstream.end())
    upstream.pipe(client)
  })
  server.listen(0, '127.0.0.1')
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  // No retries: the outage is the test's to time, not the client's to ride out.
  const es = new Client({ node: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, maxRetries: 0 })
  onTestFinished(async () => {
    // Connections first: a request still stalled would hold the client's close until it timed out.
    down = true
    for (const s of sockets) s.destroy()
    await es.close()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return {
    es,
    cut() { down = true; for (const s of sockets) s.destroy() },
    /** Elasticsearch turned slow: what is sent from now on gets no answer until `restore()`. */
    stall() { stalled = true },
    /** How many requests' bytes a stall holds now (connections with bytes held). */
    holding() { return [...held.values()].filter((l) => l.chunks.length > 0).length },
    restore() {
      down = false
      stalled = false
      for (const link of held.values()) for (const chunk of link.chunks.splice(0)) link.upstream.write(chunk)
    },
  }
}
