/**
 * The faults: SIGKILL and restart of a service (one instance of it, when it runs twice) or of Kafka (one
 * node of a cluster), SIGSTOP and SIGCONT of Elasticsearch. Engine
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

/**
 * Throws unless the stack in `home` serves the broker(s) and the Elasticsearch this run talks to: one
 * broker in `kafka/`, or, for a list of several, node k of a cluster in `kafka-k/` (infra/local/stack.sh).
 */
export async function assertOwnStack(home: string, brokers: readonly string[], esUrl: string): Promise<void> {
  const dirs = brokers.length === 1 ? ['kafka'] : brokers.map((_, i) => `kafka-${i + 1}`)
  const kafkaPorts = await Promise.all(dirs.map(async (dir) => {
    const props = await readFile(path.join(home, dir, 'server.properties'), 'utf8').catch(() => '')
    return Number(/^listeners=PLAINTEXT:\/\/[^:]+:(\d+)/m.exec(props)?.[1])
  }))
  const esYml = await readFile(path.join(home, 'elasticsearch/config/elasticsearch.yml'), 'utf8').catch(() => '')
  const esPort = Number(/^http\.port:\s*(\d+)/m.exec(esYml)?.[1])
  if (brokers.some((b, i) => portOf(b) !== kafkaPorts[i])) {
    throw new Error(`the stack in ${home} runs Kafka on port(s) ${kafkaPorts.map((p) => p || '?').join(',')}, this run uses ${brokers.join(',')}: set OPSREVIEW_HOME and the ports of one stack`)
  }
  if (portOf(esUrl) !== esPort) throw new Error(`the stack in ${home} runs Elasticsearch on port ${esPort || '?'}, this run uses ${esUrl}`)
}

export interface FaultRecord { kind: FaultKind; at: number; ms: number; detail: string }

export interface FaultContext {
  /** Each service's instances; a fault kills one of them, picked at random. */
  services: Record<ServiceName, SupervisedService[]>
  /** Nodes of the stack's Kafka: 1 kills the broker, more kill one node, picked at random. */
  kafkaNodes: number
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
      const instances = ctx.services[kind]
      const svc = instances[Math.floor(ctx.random() * instances.length)]!
      const pid = svc.pid
      await svc.kill('SIGKILL')
      const down = 500 + Math.floor(ctx.random() * 2500)
      await sleep(down)
      await svc.start()
      return `SIGKILL ${svc.label} pid ${pid}, down ${down} ms, restarted as pid ${svc.pid}`
    }
    case 'kafka': {
      if (ctx.kafkaNodes === 1) {
        await stack('kill', 'kafka')
        const down = 2000 + Math.floor(ctx.random() * 6000)
        await sleep(down)
        await stack('start', 'kafka')
        return `SIGKILL of the broker, down ${down} ms before the restart began`
      }
      // Long enough for the cluster to fence the node (broker.session.timeout.ms, 9 s) and move its
      // partitions' leadership: the others then serve every partition with two copies in sync.
      const node = `kafka-${1 + Math.floor(ctx.random() * ctx.kafkaNodes)}`
      await stack('kill', node)
      const down = 10_000 + Math.floor(ctx.random() * 10_000)
      await sleep(down)
      await stack('start', node)
      return `SIGKILL of ${node}, down ${down} ms before the restart began`
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
