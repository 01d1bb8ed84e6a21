import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { onTestFinished } from 'vitest'
import { cleanupIndices, elasticsearchUrl, esClient, freePort, kafkaBrokers, kafkaClient, repoRoot, waitFor } from '@opsreview/testing'

// The e2e tests take every helper for their processes from here.
export { freePort }

/**
 * A whole pipeline's topics, named after `run`, and the environment every service of it shares (brokers,
 * index prefix `run`, topics). The topics whose names start with `run` and the indices of the prefix are
 * deleted when the test finishes, and so is `es`, a client of the shared Elasticsearch, closed.
 */
export function pipelineOfTest(run: string) {
  const es = esClient()
  cleanupIndices(run)
  onTestFinished(async () => {
    const admin = kafkaClient().admin()
    await admin.connect()
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(run))
    await admin.deleteTopics({ topics }).catch(() => undefined)
    await admin.disconnect()
    await es.close()
  })
  const topics = {
    OPSREVIEW_TOPIC_ALERTS: `${run}-alerts`, OPSREVIEW_TOPIC_REJECTED: `${run}-rejected`, OPSREVIEW_TOPIC_COMMANDS: `${run}-commands`,
    OPSREVIEW_TOPIC_CORRELATOR_INPUT: `${run}-input`, OPSREVIEW_TOPIC_INCIDENTS: `${run}-incidents`, OPSREVIEW_TOPIC_PROBLEMS: `${run}-problems`,
    OPSREVIEW_TOPIC_COMMAND_RESULTS: `${run}-results`, OPSREVIEW_TOPIC_CORRELATOR_STATE: `${run}-state`,
    OPSREVIEW_TOPIC_CORRELATOR_DEAD_LETTER: `${run}-corr-dlq`, OPSREVIEW_TOPIC_INDEXER_DEAD_LETTER: `${run}-idx-dlq`,
  }
  return { es, topics, common: { OPSREVIEW_KAFKA_BROKERS: kafkaBrokers.join(','), OPSREVIEW_ES_INDEX_PREFIX: run, ...topics } }
}

export interface RunningProcess {
  child: ChildProcess
  /** Parsed JSON log lines (pino) the process wrote so far. */
  logs: Record<string, unknown>[]
  output: () => string
  /** SIGTERM, then the exit code. */
  stop: () => Promise<number | null>
}

function track(child: ChildProcess, name: string): RunningProcess {
  const logs: Record<string, unknown>[] = []
  let text = ''
  const onData = (chunk: Buffer) => {
    text += chunk.toString()
    for (const line of chunk.toString().split('\n')) {
      if (!line.startsWith('{')) continue
      try { logs.push(JSON.parse(line) as Record<string, unknown>) } catch { /* a partial line */ }
    }
  }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
    const code = await exited
    clearTimeout(timer)
    return code
  }
  onTestFinished(async () => { await stop() })
  child.on('error', (err) => { text += `\n[${name}] ${String(err)}` })
  return { child, logs, output: () => text, stop }
}

/**
 * What every process a test starts inherits: a PATH, and the engines the tests use (so a suite run against a
 * second stack, on other ports, points its services there too). A test's own settings come after it.
 */
export function processEnv(): Record<string, string> {
  return { PATH: process.env.PATH ?? '', OPSREVIEW_KAFKA_BROKERS: kafkaBrokers.join(','), OPSREVIEW_ES_URL: elasticsearchUrl }
}

type Service = 'receiver' | 'indexer' | 'correlator' | 'review'

/** Spawns a service from source, the way `pnpm start` does, without waiting for anything. */
export function spawnService(service: Service, env: Record<string, string>): RunningProcess {
  const child = spawn(process.execPath, ['--conditions=@opsreview/source', path.join(repoRoot, `services/${service}/src/main.ts`)], {
    env: { ...processEnv(), OPSREVIEW_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  return track(child, service)
}

/** Starts a service from source, the way `pnpm start` does, and waits for its ready log line. */
export async function startService(service: Service, env: Record<string, string>, readyMessage: string): Promise<RunningProcess> {
  const p = spawnService(service, env)
  const child = p.child
  const exited = once(child, 'exit').then(() => { throw new Error(`${service} exited before it was ready:\n${p.output()}`) })
  await Promise.race([exited, waitFor(() => (p.logs.some((l) => l.msg === readyMessage) ? true : undefined), { timeoutMs: 60_000, what: `${service} to be ready` })])
  exited.catch(() => undefined)
  return p
}

export const ALERTMANAGER_BIN = process.env.OPSREVIEW_ALERTMANAGER_BIN ?? '/usr/bin/prometheus-alertmanager'

/**
 * Alertmanager's configuration with our webhook as its only receiver: every alert (`max_alerts: 0`),
 * resolves too, and groups flushed within seconds.
 */
export function alertmanagerConfig(webhookUrl: string, token: string, groupInterval = '1s'): string {
  return `
route:
  receiver: opsreview
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: ${groupInterval}
  repeat_interval: 1h
receivers:
  - name: opsreview
    webhook_configs:
      - url: ${JSON.stringify(webhookUrl)}
        send_resolved: true
        max_alerts: 0
        http_config:
          authorization:
            type: Bearer
            credentials: ${JSON.stringify(token)}
`
}

/** Writes `config` into `dir` and starts Alertmanager on it: data in `dir`, no cluster listener, JSON logs. */
export async function spawnAlertmanager(dir: string, port: number, config: string): Promise<ChildProcess & { stdout: Readable; stderr: Readable }> {
  await writeFile(path.join(dir, 'alertmanager.yml'), config)
  const child = spawn(ALERTMANAGER_BIN, [
    `--config.file=${path.join(dir, 'alertmanager.yml')}`,
    `--storage.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--cluster.listen-address=',
    '--log.format=json',
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  // A missing binary is an 'error' event, not a throw: unheard, it crashed the chaos run past its cleanups
  // and left the services it had started running.
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve)
    child.once('error', (err) => reject(new Error(`cannot start Alertmanager (${ALERTMANAGER_BIN}): ${err.message}; apt-get install prometheus-alertmanager`)))
  })
  return child
}

/** Runs a real Alertmanager (Debian's package) whose only receiver is our webhook. */
export async function startAlertmanager(webhookUrl: string, token: string): Promise<{ url: string; process: RunningProcess }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'alertmanager-'))
  const port = await freePort()
  const child = await spawnAlertmanager(dir, port, alertmanagerConfig(webhookUrl, token))
  const p = track(child, 'alertmanager')
  const url = `http://127.0.0.1:${port}`
  await waitFor(async () => ((await fetch(`${url}/-/ready`).catch(() => undefined))?.ok ? true : undefined), { timeoutMs: 30_000, what: 'alertmanager to be ready' })
  return { url, process: p }
}

/** Runs infra/local/stack.sh: the outage tests kill and restart the real engines with it. */
export async function stack(...args: string[]): Promise<void> {
  const child = spawn('bash', [path.join(repoRoot, 'infra/local/stack.sh'), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env })
  let out = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString() })
  child.stderr.on('data', (c: Buffer) => { out += c.toString() })
  const [code] = await once(child, 'exit')
  if (code !== 0) throw new Error(`stack.sh ${args.join(' ')} failed (${String(code)}): ${out}`)
}
