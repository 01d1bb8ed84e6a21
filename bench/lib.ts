// Helpers shared by the benchmarks.
import { createHash } from 'node:crypto'

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
