import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { readFile, rm } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { freePort, waitFor } from '@opsreview/testing'
import { launch, ownElasticsearchHome, sh } from './local-scripts.ts'

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

/** Holds the home's engine lock (stack.sh's) until released: a start or stop then waits inside stack.sh. */
async function holdStackLock(home: string): Promise<() => Promise<void>> {
  const holder = spawn('bash', ['-c', 'exec 8>"$1/.stack.lock" && flock 8 && echo held && exec sleep 600', '_', home], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = once(holder, 'exit')
  let out = ''
  holder.stdout.on('data', (c: Buffer) => { out += c.toString() })
  await waitFor(() => out.includes('held') ? true : undefined, { what: 'the stack lock' })
  return async () => {
    if (holder.exitCode === null && holder.signalCode === null) holder.kill('SIGKILL')
    await exited
  }
}

/** `pnpm status`'s lines as NAME → pid (undefined when down). */
async function status(env: Record<string, string>): Promise<Map<string, number | undefined>> {
  const run = await sh('run.sh', ['status'], env)
  return new Map(run.out.trim().split('\n').map((line) => {
    const [name, state, , pid] = line.split(' ')
    return [name!, state === 'up' ? Number(pid) : undefined]
  }))
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

    // Alive, ours, holding its port, and not answering: the start waits for it (120 s unless told), then says so.
    const again = await sh('stack.sh', ['start', 'elasticsearch'], { ...env, OPSREVIEW_ES_WAIT: '10' })
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

  it('run one start or stop of a home at a time: a second start waits for the first, and once a stop during a start returns nothing runs', { timeout: 400_000 }, async () => {
    const home = await ownElasticsearchHome()
    const env = await stackEnv(home)
    const releases: (() => Promise<void>)[] = []
    onTestFinished(async () => {
      for (const release of releases) await release()
      await sh('run.sh', ['stop'], env)
      await sh('stack.sh', ['kill', 'kafka'], env)
      await sh('stack.sh', ['kill', 'elasticsearch'], env)
      await rm(home, { recursive: true, force: true })
    })
    const waitingInStack = (err: string) => err.split('\n').some((l) => l.includes('waiting for another stack.sh start, stop or kill'))

    // The engines' lock held: a start stops half-way, in stack.sh, its tokens written.
    releases.push(await holdStackLock(home))
    const first = launch('run.sh', ['start'], { ...env, OPSREVIEW_INGEST_TOKENS: 'first-ingest-token' })
    await waitFor(() => waitingInStack(first.err()) ? true : undefined, { timeoutMs: 120_000, what: 'the first start to wait for the engine lock' })
    // A reset meanwhile found no service running yet and went on to wait for the engines, to delete their data
    // under the start: refused at once now.
    const reset = launch('stack.sh', ['reset'], env)
    const resetRun = await Promise.race([reset.done, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 15_000))])
    if (!resetRun) reset.child.kill('SIGKILL')
    expect(resetRun, `the reset waited: ${reset.err()}`).toBeDefined()
    expect(resetRun!.code).toBe(1)
    expect(resetRun!.err).toMatch(/a run\.sh start \(pid \d+\) is in progress in .*: let it finish, stop the services/)
    // A second start with other tokens: the running services' tokens are kept, and a start with others refused
    // (docs/local-stack.md). Run beside the first it found no service running yet, wrote its tokens over the
    // first's, and both went on: the services ran with the first's, Alertmanager was pointed at them with the
    // second's.
    const second = launch('run.sh', ['start'], { ...env, OPSREVIEW_INGEST_TOKENS: 'second-ingest-token' })
    await waitFor(() => second.err().includes('waiting for the run.sh start') || waitingInStack(second.err()) ? true : undefined, { timeoutMs: 120_000, what: 'the second start to wait' })
    await releases.pop()!()
    const [firstRun, secondRun] = await Promise.all([first.done, second.done])
    expect(firstRun.code, firstRun.err).toBe(0)
    expect(secondRun.code, secondRun.err).toBe(1)
    expect(secondRun.err).toContain('OPSREVIEW_INGEST_TOKENS differs from the tokens the running services were started with')
    expect(await readFile(path.join(home, 'services/ingest-token'), 'utf8')).toBe('first-ingest-token\n')

    const running = await status(env)
    expect([...running].filter(([, pid]) => pid === undefined).map(([name]) => name)).toEqual([])

    // A start (of a stack that runs) held in stack.sh again, and a stop meanwhile: the stop stopped the
    // services at once, and the start launched them again once it had the engines, after the stop had
    // stopped them too, or before the stop returned.
    releases.push(await holdStackLock(home))
    const third = launch('run.sh', ['start'], { ...env, OPSREVIEW_INGEST_TOKENS: 'first-ingest-token' })
    await waitFor(() => waitingInStack(third.err()) ? true : undefined, { timeoutMs: 60_000, what: 'the third start to wait for the engine lock' })
    const stop = launch('run.sh', ['stop'], env)
    await waitFor(() => stop.err().includes('waiting for the run.sh start') || waitingInStack(stop.err()) ? true : undefined, { timeoutMs: 60_000, what: 'the stop to wait' })
    await releases.pop()!()
    const stopRun = await stop.done
    expect(stopRun.code, stopRun.err).toBe(0)
    const afterStop = await status(env)
    expect([...afterStop].filter(([, pid]) => pid !== undefined)).toEqual([])
    expect([...running.values()].filter((pid) => pid !== undefined && alive(pid))).toEqual([])
    // The start had finished before the stop began: nothing comes up after it.
    const thirdRun = await Promise.race([third.done, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 5_000))])
    expect(thirdRun, `the start still ran after the stop: ${third.err()}`).toBeDefined()
    expect(thirdRun!.code, thirdRun!.err).toBe(0)
    expect([...(await status(env))].filter(([, pid]) => pid !== undefined)).toEqual([])
  })
})
