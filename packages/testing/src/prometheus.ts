/**
 * A real Prometheus (Debian's, as CI installs it: infra/local/system-deps.sh) holding histogram series of a
 * past window, for the review's response times. The samples are written as OpenMetrics, turned into TSDB
 * blocks by `promtool tsdb create-blocks-from openmetrics`, and Prometheus is started on them with no
 * scrape job, so it holds exactly what the test wrote.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { onTestFinished } from 'vitest'
import { waitFor } from './index.ts'
import { freePort } from './ports.ts'

const run = promisify(execFile)
const PROMETHEUS_BIN = process.env.OPSREVIEW_PROMETHEUS ?? '/usr/bin/prometheus'
const PROMTOOL_BIN = process.env.OPSREVIEW_PROMTOOL ?? '/usr/bin/promtool'

/**
 * Users Prometheus asks for by basic auth (its web config's `basic_auth_users`), by name: the password, to
 * probe readiness with, and its bcrypt hash, which is what Prometheus is given.
 */
export type BasicAuthUsers = Record<string, { password: string; bcrypt: string }>

/** One histogram's buckets (`le` to count), cumulative as Prometheus's are: the requests of the window. */
export interface HistogramSeries {
  labels: Record<string, string>
  inWindow: Record<string, number>
  /**
   * The counts already there when the window starts (0 when absent). With requests in the window as well,
   * `increase()` extrapolates each bucket by its own factor and quantiles are no longer exact: give it to a
   * series with no requests in the window.
   */
  before?: Record<string, number>
  /**
   * The window of this series' samples, when not the one Prometheus is started with: a look-back compares two
   * periods, each with its own series (another label value), so that neither's samples reach into the other's
   * range and each increase stays exact.
   */
  window?: { from: number; until: number }
}

const labelText = (labels: Record<string, string>) => Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')

/**
 * The series as OpenMetrics: each bucket at a minute into the window (its `before` count, 0 by default) and
 * at the window's end (with the window's requests). A first sample of 0 stops `increase()` extrapolating
 * before it, and one at the end leaves nothing after it: the increase over [from, until] is then exactly
 * `inWindow`, so a quantile worked out by hand from the buckets is what Prometheus answers.
 */
export function histogramOpenMetrics(metric: string, series: readonly HistogramSeries[], from: number, until: number): string {
  const lines: string[] = []
  for (const s of series) {
    const w = s.window ?? { from, until }
    for (const [le, count] of Object.entries(s.inWindow)) {
      const name = `${metric}{${labelText({ ...s.labels, le })}}`
      const base = s.before?.[le] ?? 0
      lines.push(`${name} ${base} ${(w.from + 60_000) / 1000}`, `${name} ${base + count} ${w.until / 1000}`)
    }
  }
  return `${lines.join('\n')}\n# EOF\n`
}

export interface RunningPrometheus {
  url: string
  /** SIGTERM, resolved once it exited; also done when the test finishes. */
  stop(): Promise<void>
}

/**
 * Prometheus on a free port holding `series` of `metric` (`http_request_duration_seconds_bucket` by default)
 * over [from, until), ready (`/-/ready`), and stopped when the test finishes; with `basicAuthUsers`, only for them. Its data is in a scratch
 * directory under the run's (TMPDIR, .config/vitest.scratch-dir.ts).
 */
export async function startPrometheus(o: { from: number; until: number; series: readonly HistogramSeries[]; metric?: string; basicAuthUsers?: BasicAuthUsers }): Promise<RunningPrometheus> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'prometheus-'))
  const data = path.join(dir, 'data')
  const metrics = path.join(dir, 'metrics.om.txt')
  await writeFile(metrics, histogramOpenMetrics(o.metric ?? 'http_request_duration_seconds_bucket', o.series, o.from, o.until))
  await run(PROMTOOL_BIN, ['tsdb', 'create-blocks-from', 'openmetrics', metrics, data])
  // No scrape job: Prometheus would otherwise add its own series to what the test wrote.
  await writeFile(path.join(dir, 'prometheus.yml'), 'global: {}\n')
  const users = Object.entries(o.basicAuthUsers ?? {})
  const webConfig = path.join(dir, 'web.yml')
  if (users.length > 0) await writeFile(webConfig, `basic_auth_users:\n${users.map(([user, { bcrypt }]) => `  ${JSON.stringify(user)}: ${JSON.stringify(bcrypt)}\n`).join('')}`)
  const port = await freePort()
  const child: ChildProcess = spawn(PROMETHEUS_BIN, [
    `--storage.tsdb.path=${data}`, `--config.file=${path.join(dir, 'prometheus.yml')}`, `--web.listen-address=127.0.0.1:${port}`,
    // The blocks are of a past window: the default 15 days would delete them at start.
    '--storage.tsdb.retention.time=10y', '--log.level=warn', ...(users.length > 0 ? [`--web.config.file=${webConfig}`] : []),
  ], { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  child.stderr!.on('data', (c: Buffer) => { log = (log + c.toString()).slice(-4_000) })
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve)
    child.once('error', (err) => reject(new Error(`cannot start Prometheus (${PROMETHEUS_BIN}): ${err.message}; apt-get install prometheus`)))
  })
  const exited = once(child, 'exit')
  let stopping: Promise<void> | undefined
  const stop = () => (stopping ??= (async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    await exited
  })())
  onTestFinished(stop)
  const url = `http://127.0.0.1:${port}`
  const probeHeaders: Record<string, string> = users.length === 0 ? {} : { authorization: `Basic ${Buffer.from(`${users[0]![0]}:${users[0]![1].password}`).toString('base64')}` }
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`Prometheus exited (${child.exitCode}): ${log}`)
    return (await fetch(`${url}/-/ready`, { headers: probeHeaders }).catch(() => undefined))?.ok ? true : undefined
  }, { timeoutMs: 30_000, what: 'Prometheus to be ready' })
  return { url, stop }
}
