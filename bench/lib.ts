// Helpers shared by the benchmarks.
import { createHash } from 'node:crypto'

/** The middle value; of an even count, the mean of the two middle ones. */
export const median = (xs: readonly number[]): number => { const v = [...xs].sort((a, b) => a - b); const m = v.length >> 1; return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2 }

/**
 * The n-th record of the correlator benches' alert stream, as a receiver writes it to the alerts topic:
 * episodes of a firing and its resolve two minutes later, 200 ms apart from T0, over 400 services and the
 * given environments.
 */
export function syntheticAlertRecord(n: number, t0: number, envs: readonly string[]): { key: string; value: string } {
  const episode = Math.floor(n / 2)
  const status = n % 2 ? 'resolved' : 'firing'
  const at = new Date(t0 + episode * 200 + (n % 2) * 120_000).toISOString()
  const service = `svc-${episode % 400}`
  const event = {
    id: createHash('sha1').update(`${n}`).digest('hex').slice(0, 32), source: 'alertmanager', fingerprint: `fp-${episode}`, status, severity: 'warning',
    service, environment: envs[episode % envs.length], title: `HighLatency on ${service}`, labels: { alertname: 'HighLatency', instance: `host-${episode % 50}:9100` },
    startsAt: at, ...(status === 'resolved' ? { endsAt: at } : {}), receivedAt: at, links: [], origin: {},
  }
  return { key: `alertmanager:${event.fingerprint}`, value: JSON.stringify(event) }
}

/** What a run measured: wall seconds, and this process's CPU seconds over the same spans. */
export interface TimedRun {
  seconds: number
  cpuSeconds: number
}

/**
 * Runs `work` for each of `runs` over one batch, the first alternating from batch to batch (`batch` is the
 * batch's number), so that a busy spell of the shared host falls on all of them alike: on this host separate
 * runs of one engine varied ±25 %. `prepare` makes each run's input, untimed, just before its run: made
 * for all of them first, the last made would be the freshest in the cache.
 */
export function sideBySide<R extends TimedRun, I>(runs: readonly R[], batch: number, prepare: (run: R) => I, work: (run: R, input: I) => void): void {
  for (let k = 0; k < runs.length; k++) {
    const run = runs[(k + batch) % runs.length]!
    const input = prepare(run)
    const started = performance.now()
    // CPU time too: wall time counts the other processes' work.
    const cpuStarted = process.cpuUsage()
    work(run, input)
    run.seconds += (performance.now() - started) / 1000
    const cpu = process.cpuUsage(cpuStarted)
    run.cpuSeconds += (cpu.user + cpu.system) / 1e6
  }
}

/** The items in lists of `size` (the last may be shorter); `size` 0: all of them in one. */
export function* batchesOf<T>(items: Iterable<T>, size: number): Generator<T[]> {
  if (size <= 0) { yield [...items]; return }
  let batch: T[] = []
  for (const item of items) {
    batch.push(item)
    if (batch.length === size) { yield batch; batch = [] }
  }
  if (batch.length > 0) yield batch
}
