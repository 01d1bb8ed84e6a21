import { readFileSync } from 'node:fs'
import { readFile, rm } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { freePort } from '@opsreview/testing'
import { ownElasticsearchHome, sh } from './local-scripts.ts'

// The local stack's scripts (docs/local-stack.md), each test on a home and ports of its own: the shared
// engines are not touched, so these are no outage tests.

/** Every port a whole stack of one home listens on, free now. */
async function stackEnv(home: string): Promise<Record<string, string>> {
  const names = [
    'KAFKA_PORT', 'KAFKA_CONTROLLER_PORT', 'ES_PORT', 'ES_TRANSPORT_PORT', 'RECEIVER_PORT', 'REVIEW_PORT',
    'INDEXER_PORT', 'CORRELATOR_PORT', 'PROMETHEUS_PORT', 'ALERTMANAGER_PORT',
  ]
  const env: Record<string, string> = { OPSREVIEW_HOME: home, OPSREVIEW_KAFKA_HEAP: '256m', OPSREVIEW_ES_HEAP: '512m' }
  const taken = new Set<number>()
  for (const name of names) {
    let port = await freePort()
    while (taken.has(port)) port = await freePort()
    taken.add(port)
    env[`OPSREVIEW_${name}`] = String(port)
  }
  return env
}

/** The process runs: a zombie (exited, not yet reaped by whoever adopted it) does not count. */
const alive = (pid: number) => !/^State:\s*[ZX]/m.test(readFileOr(`/proc/${pid}/status`))
const readFileOr = (file: string) => { try { return readFileSync(file, 'utf8') } catch { return 'State: X' } }

describe('the local stack scripts', () => {
  it("say that this stack's own Elasticsearch does not answer (pid, state, what to do), not that another process has its port", { timeout: 300_000 }, async () => {
    const home = await ownElasticsearchHome()
    const env = await stackEnv(home)
    onTestFinished(async () => {
      // SIGKILL ends a stopped process too.
      await sh('stack.sh', ['kill', 'elasticsearch'], env)
      await rm(home, { recursive: true, force: true })
    })
    const started = await sh('stack.sh', ['start', 'elasticsearch'], env)
    expect(started.code, started.err).toBe(0)
    const pid = Number(await readFile(path.join(home, 'elasticsearch/es.pid'), 'utf8'))
    process.kill(pid, 'SIGSTOP')

    // Alive, ours, holding its port, and not answering: the start waits its 120 s for it, then says so.
    const again = await sh('stack.sh', ['start', 'elasticsearch'], env)
    expect(again.code).toBe(1)
    expect(again.err).toContain(`this stack's Elasticsearch (pid ${pid}, ${home}/elasticsearch/es.pid) is stopped (SIGSTOP, state T`)
    expect(again.err).toContain(`resume it (kill -CONT ${pid}), or restart it (pnpm stack stop elasticsearch, then pnpm stack start elasticsearch)`)
    expect(again.err).not.toContain('did not start')

    // The stop it advises takes the stopped node down with SIGTERM at once, instead of waiting 60 s for it
    // and then killing it.
    const stopped = await sh('stack.sh', ['stop', 'elasticsearch'], env)
    expect(stopped.code, stopped.err).toBe(0)
    expect(stopped.err).not.toContain('timed out')
    expect(alive(pid)).toBe(false)
  })

})
