/**
 * The faults: SIGKILL and restart of a service or of Kafka, SIGSTOP and SIGCONT of Elasticsearch. Engine
 * faults act on the stack named by OPSREVIEW_HOME and the ports, and refuse to act when that stack's
 * configuration does not name the broker and Elasticsearch this run uses: a mistyped variable must never
 * stop someone else's engines.
 */
import { readFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { stack } from '../processes.ts'
import type { FaultKind } from './options.ts'
import type { Note, ServiceName, SupervisedService } from './supervisor.ts'

/** A seeded generator (mulberry32): the same seed gives the same schedule. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const a = [...items]
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!]
  }
  return a
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Where infra/local/common.sh keeps the stack: OPSREVIEW_HOME, else its default for this user. */
export function stackHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OPSREVIEW_HOME) return env.OPSREVIEW_HOME
  if (process.getuid?.() === 0) return '/var/lib/opsreview'
  return path.join(env.XDG_DATA_HOME ?? path.join(os.homedir(), '.local/share'), 'opsreview')
}

const portOf = (url: string) => Number(new URL(url.includes('://') ? url : `tcp://${url}`).port)

/** Throws unless the stack in `home` serves the broker and the Elasticsearch this run talks to. */
export async function assertOwnStack(home: string, brokers: readonly string[], esUrl: string): Promise<void> {
  const kafkaProps = await readFile(path.join(home, 'kafka/server.properties'), 'utf8').catch(() => '')
  const esYml = await readFile(path.join(home, 'elasticsearch/config/elasticsearch.yml'), 'utf8').catch(() => '')
  const kafkaPort = Number(/^listeners=PLAINTEXT:\/\/[^:]+:(\d+)/m.exec(kafkaProps)?.[1])
  const esPort = Number(/^http\.port:\s*(\d+)/m.exec(esYml)?.[1])
  if (brokers.length !== 1 || portOf(brokers[0]!) !== kafkaPort) {
    throw new Error(`the stack in ${home} runs Kafka on port ${kafkaPort || '?'}, this run uses ${brokers.join(',')}: set OPSREVIEW_HOME and the ports of one stack`)
  }
  if (portOf(esUrl) !== esPort) throw new Error(`the stack in ${home} runs Elasticsearch on port ${esPort || '?'}, this run uses ${esUrl}`)
}

export interface FaultRecord { kind: FaultKind; at: number; ms: number; detail: string }

export interface FaultContext {
  services: Record<ServiceName, SupervisedService>
  home: string
  esStopMs: number
  random: () => number
  note: Note
  /** Run on exit whatever happens: an Elasticsearch left stopped would stall every later user. */
  onCleanup: (undo: () => Promise<void> | void) => void
}

async function esPid(home: string): Promise<number> {
  const pid = Number((await readFile(path.join(home, 'elasticsearch/es.pid'), 'utf8')).trim())
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`no Elasticsearch pid in ${home}/elasticsearch/es.pid`)
  return pid
}

/** Injects one fault and waits until what it broke runs again (the pipeline may still be catching up). */
export async function injectFault(kind: FaultKind, ctx: FaultContext): Promise<string> {
  switch (kind) {
    case 'receiver':
    case 'correlator':
    case 'indexer': {
      const svc = ctx.services[kind]
      const pid = svc.pid
      await svc.kill('SIGKILL')
      const down = 500 + Math.floor(ctx.random() * 2500)
      await sleep(down)
      await svc.start()
      return `SIGKILL pid ${pid}, down ${down} ms, restarted as pid ${svc.pid}`
    }
    case 'kafka': {
      await stack('kill', 'kafka')
      const down = 2000 + Math.floor(ctx.random() * 6000)
      await sleep(down)
      await stack('start', 'kafka')
      return `SIGKILL of the broker, down ${down} ms before the restart began`
    }
    case 'elasticsearch': {
      const pid = await esPid(ctx.home)
      let stopped = true
      const resume = () => { if (stopped) { stopped = false; process.kill(pid, 'SIGCONT') } }
      ctx.onCleanup(resume)
      process.kill(pid, 'SIGSTOP')
      await sleep(ctx.esStopMs)
      resume()
      return `SIGSTOP pid ${pid} for ${ctx.esStopMs} ms, then SIGCONT`
    }
  }
}

/**
 * Runs each fault once per round, one at a time, in a random order, each at a random moment of its own slot of the
 * window (a fault that ends late pushes the next one back: they never overlap).
 */
export async function runFaults(kinds: readonly FaultKind[], rounds: number, windowMs: number, startedAt: number, ctx: FaultContext): Promise<FaultRecord[]> {
  const order = Array.from({ length: rounds }, () => shuffled(kinds, ctx.random)).flat()
  const slot = windowMs / Math.max(1, order.length)
  const records: FaultRecord[] = []
  for (const [i, kind] of order.entries()) {
    const due = startedAt + i * slot + Math.floor(ctx.random() * slot * 0.6)
    if (due > Date.now()) await sleep(due - Date.now())
    const at = Date.now()
    ctx.note(`fault ${i + 1}/${order.length}: ${kind}`)
    const detail = await injectFault(kind, ctx)
    records.push({ kind, at: at - startedAt, ms: Date.now() - at, detail })
    ctx.note(`fault ${kind} over after ${Date.now() - at} ms: ${detail}`)
  }
  return records
}
