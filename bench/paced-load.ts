// An open-loop load at a steady rate: request i is due at start + i / rate, whatever the answers before it
// did, and its latency runs from when it was due, not from when a free connection sent it. autocannon's
// `overallRate` is not that: each connection sends its share of a second back to back at the top of the
// second and then waits, so "300 requests/s over 50 connections" is a burst of 50 concurrent requests once
// a second, and its coordinated-omission correction then adds a sample per millisecond of each slow answer.
import http from 'node:http'

export interface PacedLoadResult {
  /** Requests answered, whatever their status; `errors` were not answered. */
  requests: number
  non2xx: number
  errors: number
  requestsPerSec: number
  latencyMs: { p50: number; p90: number; p99: number; max: number }
}

export async function pacedLoad(url: string, opts: { rate: number; durationSeconds: number; maxSockets: number; headers: Record<string, string>; body: () => string }): Promise<PacedLoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.maxSockets })
  const target = new URL(url)
  const latencies: number[] = []
  let non2xx = 0
  let errors = 0
  const total = Math.round(opts.rate * opts.durationSeconds)
  const interval = 1000 / opts.rate
  const start = performance.now()
  const inFlight = new Set<Promise<void>>()
  const send = (due: number): Promise<void> => new Promise<void>((resolve) => {
    const body = opts.body()
    const req = http.request({ agent, host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers: { ...opts.headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume()
      res.on('end', () => {
        if (res.statusCode! >= 200 && res.statusCode! < 300) latencies.push(performance.now() - due)
        else non2xx++
        resolve()
      })
    })
    req.on('error', () => { errors++; resolve() })
    req.end(body)
  })
  for (let i = 0; i < total; i++) {
    const due = start + i * interval
    const wait = due - performance.now()
    if (wait > 1) await new Promise((r) => setTimeout(r, wait))
    const p = send(due)
    inFlight.add(p)
    void p.then(() => inFlight.delete(p))
  }
  await Promise.all(inFlight)
  const seconds = (performance.now() - start) / 1000
  agent.destroy()
  latencies.sort((a, b) => a - b)
  const q = (p: number) => (latencies.length === 0 ? NaN : Math.round(latencies[Math.min(latencies.length - 1, Math.ceil(p * latencies.length) - 1)]! * 10) / 10)
  return { requests: latencies.length + non2xx, non2xx, errors, requestsPerSec: Math.round((total / seconds) * 10) / 10, latencyMs: { p50: q(0.5), p90: q(0.9), p99: q(0.99), max: q(1) } }
}
