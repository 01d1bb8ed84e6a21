// Grouping rules in the engine, on kube-prometheus-stack notifications as Alertmanager sends them.
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { fixture } from '@opsreview/testing'
import { compileGroupingRules, defaultGroupingRules, relabel, type GroupingRules } from '@opsreview/grouping'
import type { AlertmanagerWebhook } from '@opsreview/schemas'
import { CorrelationEngine, type EngineSnapshot } from './engine.ts'
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
    // The rule is the user's word on what belongs together: the notification (grouped by namespace) does not
    // join its groups again, whatever joinAlertmanagerGroups says (it did until 2026-12-05: one incident of 3).
    const joined = compileGroupingRules(file)
    expect(incidentsOf(notification('pod-crashlooping', joined, (l) => ({ ...l, team: 'shop-team' })), joined).map((i) => i.alertCount)).toEqual([2, 1])
  })
})

describe('kube-prometheus-stack alerts about no workload container', () => {
  const byService = (names: string[]) => incidentsOf(names.flatMap((n) => notification(n, defaultGroupingRules)), defaultGroupingRules)
    .map((i) => [i.services, i.alerts.map((a) => a.name)])

  it('names a PDB alert by its PodDisruptionBudget, not kube-state-metrics: two namespaces’ PDBs are two incidents', () => {
    // The alert keeps kube-state-metrics' own container, job and service labels.
    expect(byService(['pdb-not-enough-healthy-pods-shop', 'pdb-not-enough-healthy-pods-billing'])).toEqual([
      [['checkout'], ['KubePdbNotEnoughHealthyPods']],
      [['ledger'], ['KubePdbNotEnoughHealthyPods']],
    ])
  })

  it('names KubeJobNotCompleted by the Job’s CronJob, and node-only kubelet alerts by their node', () => {
    expect(byService(['job-not-completed-ops', 'job-not-completed-search'])).toEqual([
      [['pg-backup'], ['KubeJobNotCompleted']],
      [['reindex'], ['KubeJobNotCompleted']],
    ])
    expect(byService(['kubelet-node-alerts'])).toEqual([
      [['ip-10-0-3-17'], ['KubeletTooManyPods']],
      [['ip-10-0-4-22'], ['KubeNodeReadinessFlapping']],
    ])
  })

  it('names the kubelet’s and kube-state-metrics’ alerts about the kube-state-metrics container by it: one incident', () => {
    // Its pod CPU-throttled, its replacement stuck pulling the image, its target down: one container's trouble.
    expect(byService(['kube-state-metrics-container'])).toEqual([
      [['kube-state-metrics'], ['CPUThrottlingHigh', 'KubeContainerWaiting', 'TargetDown']],
    ])
  })

  it('keeps InfoInhibitor out of the incident of the info alert whose labels it copies, as Watchdog is kept out', () => {
    expect(byService(['info-inhibitor'])).toEqual([
      [['checkout'], ['CPUThrottlingHigh']],
      [['InfoInhibitor'], ['InfoInhibitor']],
    ])
  })
})

describe('the Alertmanager notification-group join', () => {
  it('keeps alerts with different incident keys apart, though one notification holds them with one service', () => {
    // payments' two providers failing, each filed as its own incident by the alert's incident_key.
    const incidents = incidentsOf(notification('incident-key', defaultGroupingRules), defaultGroupingRules)
    expect(incidents.map((i) => [i.groupKey, i.services, i.alertCount])).toEqual([
      ['[["environment","labels.incident_key"],["production","INC-1"]]', ['payments'], 1],
      ['[["environment","labels.incident_key"],["production","INC-2"]]', ['payments'], 1],
    ])
  })

  it('keeps two services apart whose service and environment would run together (quotes and commas in a label)', () => {
    // Label values may hold any printable character: service "a" in `b","e` and service `a","b` in "e", their
    // parts joined by `","`, would share one join key. (A NUL once did this; a label holding one names no service now.)
    const split = (l: Record<string, string>) => {
      const { incident_key: _k, ...rest } = l
      return l.provider === 'adyen' ? { ...rest, service: 'a', env: 'b","e' } : { ...rest, service: 'a","b', env: 'e' }
    }
    const incidents = incidentsOf(notification('incident-key', defaultGroupingRules, split), defaultGroupingRules)
    expect(incidents.map((i) => [i.services, i.environment, i.alertCount])).toEqual([
      [['a'], 'b","e', 1],
      [['a","b'], 'e', 1],
    ])
  })

  it('leaves a group rule’s groups apart: the docs’ rule by labels.instance keeps two nodes’ alerts two incidents', () => {
    // kube-prometheus-stack routes by namespace: every node-exporter alert comes in the monitoring namespace's notification.
    const rules = compileGroupingRules({ version: 1, groupBy: { rules: [{ name: "a node's alerts together", match: { labels: { job: 'node-exporter' } }, by: ['labels.instance'] }] } })
    expect(rules.groupBy.joinAlertmanagerGroups).toBe(true)
    const incidents = incidentsOf(notification('node-alerts-two-nodes', rules), rules)
    expect(incidents.map((i) => [i.groupKey, i.alerts.map((a) => a.name)])).toEqual([
      ['[["environment","labels.instance"],["production","10.0.3.17:9100"]]', ['NodeFilesystemSpaceFillingUp']],
      ['[["environment","labels.instance"],["production","10.0.4.22:9100"]]', ['NodeMemoryHighUtilization']],
    ])
  })

  it('lets a default-grouped alert join the incident a rule opened in its notification, never one an incident key opened', () => {
    // The docs' example rules: crash loops grouped per namespace and container, the replica mismatch by default.
    const rules = compileGroupingRules({ version: 1, groupBy: { rules: [
      { name: 'crash loops per workload, whatever service they name', match: { source: 'alertmanager', labels: { alertname: { regex: 'KubePod.*|KubeContainer.*' }, namespace: { present: true } } }, by: ['labels.namespace', 'labels.container'] },
      { name: "a node's alerts together", match: { labels: { job: 'node-exporter' } }, by: ['labels.instance'] },
    ] } })
    const incidents = incidentsOf([...notification('pod-crashlooping', rules), ...notification('deployment-replicas-mismatch', rules)], rules)
    // Until the rule's incident was found through its notification (2026-12-05), the mismatch was an incident of its own.
    expect(incidents.map((i) => [i.services, i.alerts.map((a) => a.name)])).toEqual([
      [['checkout'], ['KubePodCrashLooping', 'KubePodCrashLooping', 'KubeDeploymentReplicasMismatch']],
      [['cart'], ['KubePodCrashLooping']],
    ])
    // An incident key names one incident alone: an alert of the same service and notification without one keeps out.
    const keyed = incidentsOf(notification('incident-key', rules, (l) => {
      const { incident_key: _k, ...rest } = l
      return l.provider === 'adyen' ? l : rest
    }), rules)
    expect(keyed.map((i) => [i.groupKey, i.alertCount])).toEqual([
      ['[["environment","labels.incident_key"],["production","INC-1"]]', 1],
      ['["payments","production"]', 1],
    ])
  })

  it('gives a crash loop that arrives after the replica mismatch it started before the incident it gives in order', () => {
    // One notification lists its alerts by label, not by start, and a retry after a receiver outage comes
    // late: the crash loops of 16:41 (received 16:58) reach the engine after the mismatch of 16:57.
    const rules = compileGroupingRules({ version: 1, groupBy: { rules: [
      { name: 'crash loops per workload', match: { source: 'alertmanager', labels: { alertname: { regex: 'KubePod.*' }, namespace: { present: true } } }, by: ['labels.namespace', 'labels.container'] },
    ] } })
    const receivedAt = (inputs: EngineInput[], at: string) => inputs.map((i) => (i.type === 'alert' ? { ...i, event: { ...i.event, receivedAt: at } } : i))
    const crash = receivedAt(notification('pod-crashlooping', rules), '2026-11-28T16:43:30.000Z')
    const mismatch = receivedAt(notification('deployment-replicas-mismatch', rules), '2026-11-28T16:57:30.000Z')
    const shape = (engine: CorrelationEngine) => engine.incidents().map((i) => [i.groupKey, i.openedAt, members(i)]).sort((a, b) => String(a[0]).localeCompare(String(b[0])))
    const run = (inputs: EngineInput[]) => {
      const engine = new CorrelationEngine({ grouping: rules })
      for (const input of inputs) engine.apply(input)
      return engine
    }
    const inOrder = run([...crash, ...mismatch])
    expect(shape(inOrder)).toEqual([
      ['[["environment","labels.container","labels.namespace"],["production","cart","shop"]]', '2026-11-28T16:43:12.377Z', ['1f07c2e9b84d6a53']],
      ['[["environment","labels.container","labels.namespace"],["production","checkout","shop"]]', '2026-11-28T16:41:12.377Z', ['4b1d2f0e8c7a9b31', 'a93e51c07d2b4f68', 'c5e8a1f9d0b27346']],
    ])
    // Until 2026-12-06 the late crash loops opened an incident of their own beside the mismatch's.
    const late = receivedAt(crash, '2026-11-28T16:58:00.000Z')
    expect(shape(run([...mismatch, ...late]))).toEqual(shape(inOrder))
    // A restart between the two keeps what opened the mismatch's incident.
    const before = run(mismatch)
    const restarted = new CorrelationEngine({ grouping: rules }, JSON.parse(JSON.stringify(before.snapshot())) as EngineSnapshot)
    for (const input of late) restarted.apply(input)
    expect(shape(restarted)).toEqual(shape(inOrder))

    // A mismatch from before the crash loops opens its own incident, which the rule-grouped crash loops
    // do not join; late, it does not join theirs either (until 2026-12-06 it did).
    const early = mismatch.map((i) => (i.type === 'alert' ? { ...i, event: { ...i.event, startsAt: '2026-11-28T16:40:00.000Z' } } : i))
    const apart = shape(run([...early, ...crash]))
    expect(apart.map(([, openedAt, fingerprints]) => [openedAt, fingerprints])).toEqual([
      ['2026-11-28T16:40:00.000Z', ['c5e8a1f9d0b27346']],
      ['2026-11-28T16:43:12.377Z', ['1f07c2e9b84d6a53']],
      ['2026-11-28T16:41:12.377Z', ['4b1d2f0e8c7a9b31', 'a93e51c07d2b4f68']],
    ])
    expect(shape(run([...crash, ...receivedAt(early, '2026-11-28T16:58:00.000Z')]))).toEqual(apart)
  })

  it('still joins alerts the default grouping keeps apart where the notification and the service are one', () => {
    // Grouped by the default `by` with labels.instance added, the two nodes' alerts differ in key, share service node-exporter.
    const rules = compileGroupingRules({ version: 1, groupBy: { default: ['service', 'labels.instance'] } })
    expect(incidentsOf(notification('node-alerts-two-nodes', rules), rules).map((i) => i.alertCount)).toEqual([2])
  })
})
