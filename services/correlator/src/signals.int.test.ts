// The correlator's process and a signal: started from source as `pnpm start` starts it, against the real Kafka.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { connectedAdmin, createReadyTopics, freePort, kafkaBrokers, kafkaClient, repoRoot, uniqueName, waitFor } from '@opsreview/testing'

describe('the correlator on SIGTERM', () => {
  it('leaves its groups and stops as a shutdown does when the signal comes once a consumer has joined, while the start goes on', { timeout: 90_000 }, async () => {
    const run = uniqueName('corr-signal')
    const topics = {
      OPSREVIEW_TOPIC_ALERTS: `${run}-alerts`, OPSREVIEW_TOPIC_COMMANDS: `${run}-commands`, OPSREVIEW_TOPIC_CORRELATOR_INPUT: `${run}-input`,
      OPSREVIEW_TOPIC_INCIDENTS: `${run}-incidents`, OPSREVIEW_TOPIC_PROBLEMS: `${run}-problems`, OPSREVIEW_TOPIC_COMMAND_RESULTS: `${run}-results`,
      OPSREVIEW_TOPIC_CORRELATOR_STATE: `${run}-state`, OPSREVIEW_TOPIC_CORRELATOR_DEAD_LETTER: `${run}-dlq`,
    }
    const kafka = kafkaClient()
    const admin = await connectedAdmin(kafka)
    onTestFinished(async () => {
      await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined)
      await admin.disconnect()
    })
    const input = topics.OPSREVIEW_TOPIC_CORRELATOR_INPUT
    await createReadyTopics(admin, [{ topic: input, numPartitions: 1 }])

    // A member of the engine group that holds a record and never heartbeats: the correlator's engine consumer
    // then waits in its join (the group waits for that member up to its session), with the rekey consumer
    // already in its group. Before 2026-12-06 a signal then exited at once, leaving both groups to wait out
    // the session, and skipping the final checkpoint.
    const holder = kafka.consumer({ groupId: `${run}-engine`, sessionTimeout: 30_000, rebalanceTimeout: 30_000 })
    let release!: () => void
    const released = new Promise<void>((resolve) => { release = resolve })
    let holding = false
    await holder.connect()
    onTestFinished(async () => { release(); await holder.disconnect() })
    await holder.subscribe({ topic: input, fromBeginning: true })
    await holder.run({ eachMessage: async () => { holding = true; await released } })
    const producer = kafka.producer()
    await producer.connect()
    await producer.send({ topic: input, messages: [{ key: 'production', value: JSON.stringify({ type: 'tick', at: '2026-12-06T00:00:00.000Z' }) }] })
    await producer.disconnect()
    await waitFor(() => (holding ? true : undefined), { timeoutMs: 30_000, what: 'the engine group\'s other member holding a record' })

    const logs: Record<string, unknown>[] = []
    const child = spawn(process.execPath, ['--conditions=@opsreview/source', path.join(repoRoot, 'services/correlator/src/main.ts')], {
      env: {
        PATH: process.env.PATH ?? '', OPSREVIEW_LOG_LEVEL: 'info', OPSREVIEW_KAFKA_BROKERS: kafkaBrokers.join(','), OPSREVIEW_CORRELATOR_GROUP: run,
        OPSREVIEW_CORRELATOR_PARTITIONS: '1', OPSREVIEW_CORRELATOR_PORT: String(await freePort()), OPSREVIEW_KAFKA_SESSION_TIMEOUT: '30s', ...topics,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const exited = once(child, 'exit')
    onTestFinished(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
    let partial = ''
    child.stdout.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) if (line.startsWith('{')) logs.push(JSON.parse(line) as Record<string, unknown>)
    })
    child.stderr.resume()
    const said = (msg: string, extra: Record<string, unknown> = {}) => logs.some((l) => l.msg === msg && Object.entries(extra).every(([k, v]) => l[k] === v))

    await waitFor(() => (said('Consumer has joined the group', { groupId: `${run}-rekey` }) ? true : undefined), { timeoutMs: 60_000, what: 'the rekey consumer in its group' })
    expect(said('correlator running')).toBe(false)
    child.kill('SIGTERM')
    await waitFor(() => (said('shutting down: checkpointing every partition') || child.exitCode !== null ? true : undefined), { what: 'the shutdown begun' })
    // The engine's join ends once the other member leaves; the shutdown then goes on from there.
    release()
    await holder.disconnect()
    const [code] = await exited as [number | null]
    expect(said('signal while starting: exiting')).toBe(false)
    expect({ code, stopped: said('stopped') }).toEqual({ code: 0, stopped: true })
    // Left, not waiting out the session: no member is left in either group.
    const { groups } = await admin.describeGroups([`${run}-rekey`, `${run}-engine`])
    expect(groups.map((g) => ({ groupId: g.groupId, members: g.members.length }))).toEqual([{ groupId: `${run}-rekey`, members: 0 }, { groupId: `${run}-engine`, members: 0 }])
  })
})
