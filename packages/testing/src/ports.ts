// Ports for processes the tests and benches start: outside any vitest import, so a bench can use it.
import { once } from 'node:events'
import { createServer } from 'node:net'

/**
 * A port nothing listens on, for a process started next. Drawn from below Linux's ephemeral range (32768
 * up): a port the kernel hands out for listen(0) comes from that range, and an outgoing connection of
 * another test (kafkajs, Elasticsearch) took one such port between the check and the service's bind (CI:
 * EADDRINUSE). Not 19000-19999 or 29000-29999, where the CI and chaos stacks listen.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 21_000 + Math.floor(Math.random() * 8_000)
    if (await canListen(port)) return port
  }
}

async function canListen(port: number): Promise<boolean> {
  const srv = createServer()
  const listening = once(srv, 'listening').then(() => true, () => false)
  srv.listen(port, '127.0.0.1')
  const ok = await listening
  if (ok) await new Promise((r) => srv.close(r))
  return ok
}
