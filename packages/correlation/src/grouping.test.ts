// Grouping rules in the engine, on kube-prometheus-stack notifications as Alertmanager sends them.
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { fixture } from '@opsreview/testing'
import { compileGroupingRules, defaultGroupingRules, relabel, type GroupingRules } from '@opsreview/grouping'
import type { AlertmanagerWebhook } from '@opsreview/schemas'
import { CorrelationEngine } from './engine.ts'
import type { AlertEvent, EngineInput, Incident } from './types.ts'

/**
 * The fixture's alerts as canonical events, with service and environment as the receiver maps them
 * under `rules` (relabel is that mapping), in the notification's order.
 */
function notification(name: string, rules: GroupingRules, patch: (labels: Record<string, string>) => Record<string, string> = (l) => l): EngineInput[] {
  const payload = fixture<AlertmanagerWebhook>(`alertmanager/kube-prometheus-${name}.json`)
  return payload.alerts.map((a) => {
    const labels = patch({ ...a.labels })
    const startsAt = new Date(a.startsAt).toISOString()
    const event: AlertEvent = {
      id: createHash('sha256').update(`alertmanager|${a.fingerprint}|firing|${startsAt}`).digest('hex').slice(0, 32),
      source: 'alertmanager', fingerprint: a.fingerprint!, status: 'firing',
      severity: 'warning', service: '', environment: '', title: a.annotations?.summary ?? labels.alertname!, labels, startsAt, receivedAt: startsAt,
      links: [], origin: { receiver: payload.receiver, groupKey: payload.groupKey },
    }
    return { type: 'alert', event: relabel(event, rules) } satisfies EngineInput
  })
}

function incidentsOf(inputs: EngineInput[], grouping: GroupingRules): Incident[] {
  const engine = new CorrelationEngine({ grouping })
  const sorted = [...inputs].sort((a, b) => (a.type === 'alert' && b.type === 'alert' ? a.event.startsAt.localeCompare(b.event.startsAt) : 0))
  for (const input of sorted) engine.apply(input)
  return engine.incidents().sort((a, b) => a.openedAt.localeCompare(b.openedAt))
}

const members = (inc: Incident) => inc.alerts.map((a) => a.fingerprint).sort()

describe('grouping kube-prometheus-stack alerts', () => {
  it('makes crash loops of two deployments in one namespace two incidents, and two pods of one deployment one', () => {
    // Pods checkout-…-x2x9k and checkout-…-q7w3e of deployment checkout, and cart-…-mk8zt of deployment cart,
    // all in namespace shop, in one notification (kube-prometheus-stack routes by namespace).
    const incidents = incidentsOf(notification('pod-crashlooping', defaultGroupingRules), defaultGroupingRules)
    expect(incidents.map((i) => [i.services, i.environment, i.alertCount])).toEqual([
      [['checkout'], 'production', 2],
      [['cart'], 'production', 1],
    ])
    expect(members(incidents[0]!)).toEqual(['4b1d2f0e8c7a9b31', 'a93e51c07d2b4f68'])
  })

  it('puts a deployment’s replica mismatch into the incident of its crashing pods, and a node’s disk apart', () => {
    const inputs = [
      ...notification('pod-crashlooping', defaultGroupingRules),
      ...notification('deployment-replicas-mismatch', defaultGroupingRules),
      ...notification('node-filesystem-filling-up', defaultGroupingRules),
    ]
    const incidents = incidentsOf(inputs, defaultGroupingRules)
    expect(incidents.map((i) => [i.services, i.alertCount])).toEqual([
      [['node-exporter'], 1],
      [['checkout'], 3],
      [['cart'], 1],
    ])
  })

  it('with the old precedence (job before container, namespace as environment) every crash loop was one incident', () => {
    // What the receiver did before: the exporter's labels named the service. Kept as the reason for the defaults.
    const old = compileGroupingRules({ version: 1, service: { labels: ['service', 'job', 'app'], rules: [] }, environment: { labels: ['env', 'environment', 'namespace'] } })
    const incidents = incidentsOf(notification('pod-crashlooping', old), old)
    expect(incidents.map((i) => [i.services, i.environment, i.alertCount])).toEqual([[['kube-prometheus-stack-kube-state-metrics'], 'shop', 3]])
  })

  it('follows a rules file: crash loops by namespace and container, whatever their service is named', () => {
    const file = {
      version: 1 as const,
      service: { labels: ['team'], rules: [] },
      groupBy: { rules: [{ name: 'pods', match: { labels: { alertname: { regex: 'KubePod.*' } } }, by: ['labels.namespace', 'labels.container'] }] },
    }
    const rules = compileGroupingRules({ ...file, groupBy: { ...file.groupBy, joinAlertmanagerGroups: false } })
    // Every alert names the same team: by service alone they would be one incident.
    const inputs = notification('pod-crashlooping', rules, (l) => ({ ...l, team: 'shop-team' }))
    const incidents = incidentsOf(inputs, rules)
    expect(incidents.map((i) => [i.services, i.alertCount, i.groupKey])).toEqual([
      [['shop-team'], 2, '[["environment","labels.container","labels.namespace"],["production","checkout","shop"]]'],
      [['shop-team'], 1, '[["environment","labels.container","labels.namespace"],["production","cart","shop"]]'],
    ])
    // By default alerts of one notification with one service join one incident, the sender's grouping.
    const joined = compileGroupingRules(file)
    expect(incidentsOf(notification('pod-crashlooping', joined, (l) => ({ ...l, team: 'shop-team' })), joined).map((i) => i.alertCount)).toEqual([3])
  })
})
