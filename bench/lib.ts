// Helpers shared by the benchmarks.
import { once } from 'node:events'
import { createServer } from 'node:net'

/** A loopback port nothing listens on now, for a service the bench starts. */
export async function freePort(): Promise<number> {
  const srv = createServer().listen(0, '127.0.0.1')
  await once(srv, 'listening')
  const { port } = srv.address() as { port: number }
  await new Promise((r) => srv.close(r))
  return port
}
