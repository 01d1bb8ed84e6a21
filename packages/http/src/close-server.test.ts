import { createServer, Agent, request } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { describe, expect, it, vi } from 'vitest'
import { closeServer } from './hardening.ts'

/** GET / over the keep-alive `agent`; resolves with the Connection header of the answer. */
function get(port: number, agent: Agent): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const req = request({ port, host: '127.0.0.1', path: '/', agent }, (res) => { res.resume(); res.on('end', () => resolve(res.headers.connection)) })
    req.on('error', reject)
    req.end()
  })
}

describe('closeServer', () => {
  it('closes a keep-alive connection that never goes idle, long before the grace runs out', async () => {
    // Busy nearly all the time: between two answers the connection is idle for well under a millisecond.
    const server = createServer((_req, res) => { setTimeout(() => res.end('ok'), 100) })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const { port } = server.address() as AddressInfo
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    // A sender that never pauses: one request after another on the same connection.
    let sending = true
    const answers: (string | undefined)[] = []
    const sender = (async () => {
      while (sending) answers.push(await get(port, agent).catch(() => 'refused'))
    })()
    while (answers.length < 3) await new Promise((resolve) => setTimeout(resolve, 10))
    // The grace's end is the only thing that cuts connections: it must never come.
    const cutAtGrace = vi.spyOn(server, 'closeAllConnections')
    await closeServer(server, 10_000)
    sending = false
    await sender
    agent.destroy()
    // server.close() alone waited here until the grace ran out (past this test's 5 s timeout): the connection
    // took request after request. closeServer returned, and not by the grace's cut. Whether the client saw an
    // answer with `Connection: close` or a reset of its next request is a race between the two, both fine.
    expect(cutAtGrace).not.toHaveBeenCalled()
    expect(answers.slice(0, 3)).toEqual(['keep-alive', 'keep-alive', 'keep-alive'])
  })

  it('closes the connection of a request under way at the close once it is answered, not when keep-alive runs out', async () => {
    let answer!: () => void
    const server = createServer((_req, res) => { answer = () => res.end('ok') })
    server.keepAliveTimeout = 600_000
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const { port } = server.address() as AddressInfo
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    const answered = get(port, agent)
    while (!answer) await new Promise((resolve) => setTimeout(resolve, 10))
    const cutAtGrace = vi.spyOn(server, 'closeAllConnections')
    const closing = closeServer(server, 600_000)
    answer()
    expect(await answered).toBe('keep-alive')
    // Neither the client (a keep-alive agent) nor the server's timeouts (ten minutes) would end it.
    await closing
    expect(cutAtGrace).not.toHaveBeenCalled()
    agent.destroy()
  })
})
