// pnpm bench:receiver-floor: how near the raw kafkajs producer the receiver can come on this machine.
//
// The receiver pays kafkajs's cost per event just as the raw producer of `pnpm bench:receiver` does (the same
// canonical events, producer settings and partitioning), and its own work on top. While its thread is the
// limit, receiver/raw is at most raw / (raw + own), CPU per event. This measures `own` without Kafka: under
// the same autocannon load (this process), the CPU per 100k alerts of two servers, each its own process:
//
//   http      express with the receiver's JSON body reader (`jsonBody`) and a `res.json` answer: what any
//             express receiver of these webhooks pays before it looks at them;
//   receiver  the receiver app (`createReceiverApp`: token, validation of the webhook and the canonical
//             events, mapping, ids, dedup, metrics) with a publisher that acknowledges on the next tick.
//
// Then the raw producer's CPU per 100k events (needs the local Kafka; BENCH_RAW=0 skips it), and the bounds
// that follow. BENCH_SECONDS (default 8) per round, BENCH_ROUNDS (default 3) rounds per server, medians.
import { spawn, type ChildProcessByStdio } from 'node:child_process'
import { once } from 'node:events'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { Kafka, logLevel } from 'kafkajs'
import { alertsPerRequest, brokers, cpuSeconds, load, median, rawProducer, round2, token } from './receiver-load.ts'

type Server = 'http' | 'receiver'

async function serve(server: Server): Promise<void> {
  const express = (await import('express')).default
  const { jsonBody } = await import('../packages/http/src/body.ts')
  const { createReceiverApp } = await import('../services/receiver/src/app.ts')
  const { createReceiverMetrics } = await import('../services/receiver/src/metrics.ts')
  const { createLogger } = await import('../packages/logging/src/index.ts')
  const { defaultIngestOptions } = await import('../packages/ingest/src/event.ts')
  let app: ReturnType<typeof express>
  if (server === 'http') {
    app = express()
    app.post('/webhooks/alertmanager', ...jsonBody(1024 * 1024), (req, res) => {
      res.json({ accepted: (req.body as { alerts: unknown[] }).alerts.length })
    })
  } else {
    const nextTick = () => new Promise((resolve) => setImmediate(resolve))
    app = createReceiverApp({
      publisher: {
        ready: true,
        publish: async () => { await nextTick() },
        publishEach: async (_topic, messages) => { await nextTick(); return messages.map(() => undefined) },
      },
      spool: { depth: 0, append: async () => {} },
      topicsReady: () => true,
      logger: createLogger('bench-receiver', 'warn'),
      metrics: createReceiverMetrics({ breakerState: () => 'closed', spool: { depth: 0, oldestAgeMs: 0, bytes: 0, maxBytes: Infinity } }),
      clock: () => new Date(),
      tokens: [token],
      bodyLimit: 1024 * 1024,
      topics: { alerts: 'alerts', rejected: 'rejected' },
      ingest: defaultIngestOptions,
    })
  }
  process.on('SIGTERM', () => process.exit(0))
  const listener = app.listen(0, '127.0.0.1', () => console.log(`listening ${(listener.address() as { port: number }).port}`))
}

async function start(server: Server): Promise<{ child: ChildProcessByStdio<null, Readable, null>; url: string }> {
  const child = spawn(process.execPath, ['--conditions=@opsreview/source', fileURLToPath(import.meta.url), 'serve', server], { stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => { const m = /listening (\d+)/.exec(String(d)); if (m) resolve(m[1]!) })
    child.once('exit', (code) => reject(new Error(`the ${server} server exited (${code}) before listening`)))
  })
  return { child, url: `http://127.0.0.1:${port}` }
}


/** The server's CPU seconds per 100k alerts answered, one figure per round. */
async function measure(server: Server, seconds: number, rounds: number): Promise<{ cpuSecondsPer100kAlerts: number[]; alertsPerSec: number[]; non2xx: number }> {
  const { child, url } = await start(server)
  await load(url, { connections: 50, duration: 3 })
  const cpu: number[] = []
  const rate: number[] = []
  let non2xx = 0
  for (let r = 0; r < rounds; r++) {
    const before = await cpuSeconds(child.pid!)
    const result = await load(url, { connections: 50, duration: seconds })
    const used = (await cpuSeconds(child.pid!)) - before
    cpu.push(round2((used / (result.requests * alertsPerRequest)) * 100_000))
    rate.push(Math.round(result.alertsPerSec))
    non2xx += result.non2xx
  }
  child.kill('SIGTERM')
  await once(child, 'exit')
  return { cpuSecondsPer100kAlerts: cpu, alertsPerSec: rate, non2xx }
}

async function rawCost(rounds: number): Promise<number[]> {
  const admin = new Kafka({ clientId: 'bench-floor-admin', brokers, logLevel: logLevel.NOTHING }).admin()
  await admin.connect()
  const topic = `bench-floor-${Date.now().toString(36)}-raw`
  await admin.createTopics({ topics: [{ topic, numPartitions: 6 }], waitForLeaders: true })
  const costs: number[] = []
  try {
    for (let r = 0; r < rounds; r++) costs.push((await rawProducer(brokers, topic, 200_000)).cpuSecondsPer100kEvents)
  } finally {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined)
    await admin.disconnect()
  }
  return costs
}

if (process.argv[2] === 'serve') {
  await serve(process.argv[3] as Server)
} else {
  const seconds = Number(process.env.BENCH_SECONDS ?? 8)
  const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3))
  const http = await measure('http', seconds, rounds)
  const receiver = await measure('receiver', seconds, rounds)
  const raw = process.env.BENCH_RAW === '0' ? undefined : await rawCost(rounds)
  const floor = median(http.cpuSecondsPer100kAlerts)
  const own = median(receiver.cpuSecondsPer100kAlerts)
  const r = raw && median(raw)
  const result = {
    date: new Date().toISOString(), node: process.version,
    cpuSecondsPer100kAlerts: { http: http.cpuSecondsPer100kAlerts, receiverWithoutKafka: receiver.cpuSecondsPer100kAlerts },
    alertsPerSec: { http: http.alertsPerSec, receiverWithoutKafka: receiver.alertsPerSec },
    non2xx: http.non2xx + receiver.non2xx,
    rawCpuSecondsPer100kEvents: raw,
    // receiver/raw when the receiver's thread is the limit and it pays kafkajs what the raw producer pays.
    bounds: r === undefined ? undefined : { httpOnly: round2(r / (r + floor)), receiver: round2(r / (r + own)) },
  }
  console.log(JSON.stringify(result, null, 2))
  console.log(`\nCPU s per 100k alerts without Kafka: express + jsonBody ${floor}, the receiver app ${own}`
    + (r === undefined ? '' : `; raw producer ${r} per 100k events. receiver/raw at most ${result.bounds!.receiver} (${result.bounds!.httpOnly} for an express receiver that only parsed the webhooks); target >= 0.5`))
}
