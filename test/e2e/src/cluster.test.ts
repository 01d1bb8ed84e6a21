import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import path from 'node:path'
import { ConfigResourceTypes, Kafka, logLevel } from 'kafkajs'
import { describe, expect, it, onTestFinished } from 'vitest'
import { connectProducer } from '@opsreview/kafka/connection'
import { alertTopicSpec, ensureTopics, topicReplicationOf } from '@opsreview/kafka/topics'
import { connectedAdmin, repoRoot, uniqueName, waitFor } from '@opsreview/testing'
import { ownHome, sh } from './local-scripts.ts'

// Cluster mode of the local stack (docs/cluster.md), on a home and ports of the test's own: the shared
// engines are not touched, so this is no outage test.

const portFree = (port: number) => new Promise<boolean>((resolve) => {
  const socket = connect(port, '127.0.0.1')
  socket.once('connect', () => { socket.destroy(); resolve(false) })
  socket.once('error', () => resolve(true))
})

/** A client port whose node ports (+0, +100, +200) and controller ports (+1, …) are all free. */
async function freeClusterPorts(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    // All six below Linux's ephemeral range (32768 up, as freePort's): drawn from 31,000 – 34,999 they could
    // fall in it, and a CI run's kafka-3 on 34566 never came up (an outgoing connection of another test can
    // hold such a port as its own between this check and the broker's bind). Not 29000-29999 (the chaos stack).
    const base = 30_000 + 2 * Math.floor(Math.random() * 1_200)
    const ports = [0, 100, 200].flatMap((d) => [base + d, base + d + 1])
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base
  }
  throw new Error('no free ports for a test cluster')
}

describe('cluster mode of the local stack', () => {
  it('names one part per Kafka node and per service instance in `pnpm status`, each in the form NAME up pid N or NAME down', { timeout: 60_000 }, async () => {
    const home = await ownHome()
    onTestFinished(() => rm(home, { recursive: true, force: true }))
    const base = await freeClusterPorts()
    const run = await sh('run.sh', ['status'], {
      OPSREVIEW_HOME: home, OPSREVIEW_KAFKA_NODES: '3', OPSREVIEW_INSTANCES: '2',
      OPSREVIEW_KAFKA_PORT: String(base), OPSREVIEW_KAFKA_CONTROLLER_PORT: String(base + 1), OPSREVIEW_ES_PORT: String(base + 2),
    })
    // Exit 1: parts are down, as stack.sh status says it.
    expect(run.code, run.err).toBe(1)
    expect(run.out.trim().split('\n')).toEqual([
      'kafka-1 down', 'kafka-2 down', 'kafka-3 down', 'elasticsearch down',
      'receiver-1 down', 'receiver-2 down', 'correlator-1 down', 'correlator-2 down',
      'indexer-1 down', 'indexer-2 down', 'review-1 down', 'review-2 down',
      'prometheus down', 'alertmanager down',
    ])
  })

  it('stops every service instance of its home in `pnpm stop`, whatever OPSREVIEW_INSTANCES says', { timeout: 60_000 }, async () => {
    const home = await ownHome()
    const base = await freeClusterPorts()
    const env = { OPSREVIEW_HOME: home, OPSREVIEW_KAFKA_PORT: String(base), OPSREVIEW_KAFKA_CONTROLLER_PORT: String(base + 1), OPSREVIEW_ES_PORT: String(base + 2) }
    // Stand-ins for the instances of a cluster-mode start: processes whose command line names the service's
    // main.ts and whose environment names the home, as run.sh checks before it signals a pid, with the pid
    // files run.sh writes.
    const standIns = ['receiver-1', 'receiver-2', 'indexer-2'].map((name) => {
      const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', path.join(repoRoot, 'services', name.split('-')[0]!, 'src/main.ts')], {
        stdio: 'ignore', env: { ...process.env, OPSREVIEW_HOME: home },
      })
      return { name, child, exited: once(child, 'exit') }
    })
    onTestFinished(async () => {
      for (const { child } of standIns) child.kill('SIGKILL')
      await rm(home, { recursive: true, force: true })
    })
    await mkdir(path.join(home, 'services'), { recursive: true })
    for (const { name, child } of standIns) await writeFile(path.join(home, 'services', `${name}.pid`), `${child.pid}\n`)
    const stopped = await sh('run.sh', ['stop'], { ...env, OPSREVIEW_INSTANCES: '' })
    expect(stopped.code, stopped.err).toBe(0)
    // run.sh waits for each to exit: one it did not stop keeps this waiting until the test times out.
    await Promise.all(standIns.map((s) => s.exited))
    expect(standIns.map((s) => s.child.signalCode)).toEqual(['SIGTERM', 'SIGTERM', 'SIGTERM'])
  })

  it('runs three nodes whose topics get three copies and min.insync.replicas 2 (or what a service is told), and acknowledges writes with a node killed', { timeout: 300_000 }, async () => {
    const home = await ownHome()
    const base = await freeClusterPorts()
    const env = {
      OPSREVIEW_HOME: home, OPSREVIEW_KAFKA_NODES: '3', OPSREVIEW_KAFKA_HEAP: '256m',
      OPSREVIEW_KAFKA_PORT: String(base), OPSREVIEW_KAFKA_CONTROLLER_PORT: String(base + 1),
    }
    onTestFinished(async () => {
      await sh('stack.sh', ['kill', 'kafka'], env)
      await rm(home, { recursive: true, force: true })
    })
    const started = await sh('stack.sh', ['start', 'kafka'], env)
    expect(started.code, started.err).toBe(0)

    // A single-node start beside the cluster: the single broker would take kafka-1's port, and the two are
    // separate data sets (docs/cluster.md). Said so, with what to do, and nothing launched; it said only that
    // a process this stack did not start had the port.
    const single = await sh('stack.sh', ['start', 'kafka'], { ...env, OPSREVIEW_KAFKA_NODES: '' })
    expect(single.code, single.err).toBe(1)
    expect(single.err).toMatch(new RegExp(`port ${base} of the single-node Kafka is taken by kafka-1 of this home's 3-node Kafka cluster \\(pid \\d+\\)`))
    expect(single.err).toContain('stop the cluster first (pnpm stack stop kafka), or start with OPSREVIEW_KAFKA_NODES=3 to use it')
    expect(existsSync(path.join(home, 'kafka', 'kafka.pid'))).toBe(false)

    const pids = await sh('stack.sh', ['pids'], env)
    const kafkaLines = pids.out.split('\n').filter((l) => l.startsWith('kafka'))
    expect(kafkaLines).toHaveLength(3)
    kafkaLines.forEach((line, i) => expect(line).toMatch(new RegExp(`^kafka-${i + 1} up pid \\d+$`)))
    expect((await sh('stack.sh', ['brokers'], env)).out.trim()).toBe(`127.0.0.1:${base},127.0.0.1:${base + 100},127.0.0.1:${base + 200}`)

    const kafka = new Kafka({ clientId: uniqueName('cluster'), brokers: [`127.0.0.1:${base}`, `127.0.0.1:${base + 100}`, `127.0.0.1:${base + 200}`], logLevel: logLevel.NOTHING, retry: { retries: 10 } })
    const admin = await connectedAdmin(kafka)
    // As a service creates its topics: no replication given, the cluster's defaults apply.
    const spec = alertTopicSpec(uniqueName('alerts'), 6, 1)
    await ensureTopics(admin, [spec], { timeoutMs: 60_000 })
    // A node that has not yet caught up with the new topic's metadata answers "does not host": ask again.
    const metadata = await waitFor(() => admin.fetchTopicMetadata({ topics: [spec.topic] }).catch(() => undefined), { timeoutMs: 30_000, intervalMs: 500, what: "the new topic's metadata" })
    expect(metadata.topics[0]!.partitions.map((p) => p.replicas.length)).toEqual([3, 3, 3, 3, 3, 3])
    const configs = await waitFor(
      () => admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: spec.topic, configNames: ['min.insync.replicas'] }], includeSynonyms: false }).catch(() => undefined),
      { timeoutMs: 30_000, intervalMs: 500, what: "the new topic's configuration on every node" },
    )
    expect(configs.resources[0]!.configEntries[0]!.configValue).toBe('2')
    // As a service creates its topics with OPSREVIEW_KAFKA_REPLICATION_FACTOR=2 and OPSREVIEW_KAFKA_MIN_INSYNC_REPLICAS=1.
    const own = alertTopicSpec(uniqueName('alerts-own'), 3, 1)
    await ensureTopics(admin, [own], { timeoutMs: 60_000, ...topicReplicationOf({ OPSREVIEW_KAFKA_REPLICATION_FACTOR: 2, OPSREVIEW_KAFKA_MIN_INSYNC_REPLICAS: 1 }) })
    const ownMetadata = await waitFor(() => admin.fetchTopicMetadata({ topics: [own.topic] }).catch(() => undefined), { timeoutMs: 30_000, intervalMs: 500, what: "the second topic's metadata" })
    expect(ownMetadata.topics[0]!.partitions.map((p) => p.replicas.length)).toEqual([2, 2, 2])
    const ownConfigs = await waitFor(
      () => admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: own.topic, configNames: ['min.insync.replicas'] }], includeSynonyms: false }).catch(() => undefined),
      { timeoutMs: 30_000, intervalMs: 500, what: "the second topic's configuration" },
    )
    expect(ownConfigs.resources[0]!.configEntries[0]!.configValue).toBe('1')

    // One node down: the other two hold every partition, so an acks=all write to each is still acknowledged.
    const killed = await sh('stack.sh', ['kill', 'kafka-2'], env)
    expect(killed.code, killed.err).toBe(0)
    expect((await sh('stack.sh', ['pids'], env)).out).toContain('kafka-2 down')
    // Until the controllers fence the dead node (broker.session.timeout.ms, 9 s) metadata still lists it, and may
    // name it as the node to ask for a producer id, which kafkajs does not retry: connectProducer does, as
    // every service's producer does.
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, retry: { retries: 20, initialRetryTime: 300, maxRetryTime: 3000 } })
    await connectProducer(producer)
    onTestFinished(() => producer.disconnect())
    const sent = await producer.send({ topic: spec.topic, acks: -1, messages: [0, 1, 2, 3, 4, 5].map((partition) => ({ partition, key: String(partition), value: 'while kafka-2 is down' })) })
    expect(sent.map((r) => r.partition).sort()).toEqual([0, 1, 2, 3, 4, 5])

    const restarted = await sh('stack.sh', ['start', 'kafka-2'], env)
    expect(restarted.code, restarted.err).toBe(0)
    expect((await sh('stack.sh', ['pids'], env)).out).toMatch(/^kafka-2 up pid \d+$/m)

    // Stopped from a shell without OPSREVIEW_KAFKA_NODES: every node of the cluster goes, none holds its ports.
    const stopped = await sh('stack.sh', ['stop'], { ...env, OPSREVIEW_KAFKA_NODES: '' })
    expect(stopped.code, stopped.err).toBe(0)
    expect((await sh('stack.sh', ['pids'], env)).out).toMatch(/^kafka-1 down\nkafka-2 down\nkafka-3 down$/m)

    // Stopped with OPSREVIEW_KAFKA_NODES set too low: every node still goes, and all together; the node left
    // for last waited for a quorum the others had taken away (60 s, then SIGKILL).
    const again = await sh('stack.sh', ['start', 'kafka'], env)
    expect(again.code, again.err).toBe(0)
    const tooFew = await sh('stack.sh', ['stop'], { ...env, OPSREVIEW_KAFKA_NODES: '2' })
    expect(tooFew.code, tooFew.err).toBe(0)
    expect(tooFew.err).not.toContain('timed out')
    expect((await sh('stack.sh', ['pids'], env)).out).toMatch(/^kafka-1 down\nkafka-2 down\nkafka-3 down$/m)

    // The last node of a cluster whose other two died: no quorum can approve its controlled shutdown, and it
    // is killed once the others are seen gone, instead of waited for the whole 60 s.
    const third = await sh('stack.sh', ['start', 'kafka'], env)
    expect(third.code, third.err).toBe(0)
    for (const node of ['kafka-1', 'kafka-2']) {
      const died = await sh('stack.sh', ['kill', node], env)
      expect(died.code, died.err).toBe(0)
    }
    const lone = await sh('stack.sh', ['stop'], env)
    expect(lone.code, lone.err).toBe(0)
    expect(lone.err).not.toContain('timed out')
    expect(lone.err).toContain('too few nodes were left for a controller quorum')
    expect((await sh('stack.sh', ['pids'], env)).out).toMatch(/^kafka-1 down\nkafka-2 down\nkafka-3 down$/m)
  })
})
