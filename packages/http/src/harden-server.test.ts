import { createServer } from 'node:http'
import { once } from 'node:events'
import { connect, type AddressInfo } from 'node:net'
import { describe, expect, it, onTestFinished } from 'vitest'
import { hardenServer } from './hardening.ts'

/** A hardened server answering 200 to whatever it can read, on a free port. */
async function hardened(): Promise<number> {
  const server = createServer((_req, res) => res.end('ok'))
  hardenServer(server)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  onTestFinished(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  return (server.address() as AddressInfo).port
}

/** Sends `raw` as it is and reads the answer to its end. */
async function rawRequest(port: number, raw: string): Promise<{ status: number; headers: string; body: unknown }> {
  const socket = connect(port, '127.0.0.1')
  await once(socket, 'connect')
  socket.write(raw)
  const chunks: Buffer[] = []
  socket.on('data', (c: Buffer) => chunks.push(c))
  await once(socket, 'close')
  const text = Buffer.concat(chunks).toString()
  const [head, body] = [text.slice(0, text.indexOf('\r\n\r\n')), text.slice(text.indexOf('\r\n\r\n') + 4)]
  return { status: Number(head.split(' ')[1]), headers: head, body: JSON.parse(body) as unknown }
}

describe('hardenServer', () => {
  it('answers a URL past 16 KiB with a 431 problem naming the URL, not a bare status line', async () => {
    const port = await hardened()
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/incidents?q=${'a'.repeat(17_000)}`)
    expect(res.status).toBe(431)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    expect(await res.json()).toMatchObject({ status: 431, code: 'HEADERS_TOO_LARGE', errors: [{ path: 'url' }] })
  })

  it('answers what is not HTTP with a 400 problem naming the request', async () => {
    const port = await hardened()
    const res = await rawRequest(port, 'NOT HTTP AT ALL\r\n\r\n')
    expect(res.status).toBe(400)
    expect(res.headers).toContain('Content-Type: application/problem+json')
    expect(res.body).toMatchObject({ status: 400, code: 'BAD_REQUEST', errors: [{ path: 'request' }] })
  })
})
