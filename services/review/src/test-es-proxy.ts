// The real Elasticsearch behind a loopback proxy a test can cut: the review's client sees a connection
// refused (and its open connections reset) exactly when the test says, and the same cluster again after.
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { onTestFinished } from 'vitest'
import { Client } from '@elastic/elasticsearch'
import { elasticsearchUrl } from '@opsreview/testing'

export async function cuttableElasticsearch() {
  const target = new URL(elasticsearchUrl)
  const sockets = new Set<net.Socket>()
  let down = false
  const server = net.createServer((client) => {
    if (down) { client.destroy(); return }
    const upstream = net.connect(Number(target.port || 9200), target.hostname)
    for (const s of [client, upstream]) { sockets.add(s); s.once('close', () => sockets.delete(s)); s.on('error', () => undefined) }
    client.pipe(upstream).pipe(client)
  })
  server.listen(0, '127.0.0.1')
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  // No retries: the outage is the test's to time, not the client's to ride out.
  const es = new Client({ node: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, maxRetries: 0 })
  onTestFinished(async () => {
    await es.close()
    for (const s of sockets) s.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return {
    es,
    cut() { down = true; for (const s of sockets) s.destroy() },
    restore() { down = false },
  }
}
