import { describe, expect, it } from 'vitest'
import { captureLogs } from '@opsreview/testing'
import { startKafka, type StartupAdmin } from './startup.ts'

/** Admin clients that count their connections; `connects` fails them while it returns an error. */
function admins(connects: () => Error | undefined = () => undefined) {
  const counts = { created: 0, connected: 0, disconnected: 0 }
  const createAdmin = (): StartupAdmin => {
    counts.created++
    return {
      connect: async () => {
        const err = connects()
        if (err) throw err
        counts.connected++
      },
      disconnect: async () => { counts.disconnected++ },
    }
  }
  return { counts, createAdmin }
}

/** A back-off that does not wait, and ends the start-up after `attempts` failed attempts. */
function stopAfter(attempts: number) {
  const ends = new AbortController()
  let waits = 0
  const sleep = async () => { if (++waits >= attempts) ends.abort() }
  return { ends: ends.signal, sleep }
}

describe('startKafka', () => {
  it('starts the drain and closes every admin client while the topics cannot be set up, naming the step that failed', async () => {
    const { logger, lines } = captureLogs()
    const { counts, createAdmin } = admins()
    const drains: number[] = []
    let connects = 0
    const result = await startKafka({
      createAdmin,
      ensureTopics: async () => { throw new Error('Replication factor: 9 larger than available brokers: 1') },
      connectPublisher: async () => { connects++ },
      // The attempts made by the time the drain started: none, it does not wait for them.
      startDraining: () => drains.push(counts.created),
      logger,
      ...stopAfter(3),
    })
    expect(result).toBe(false)
    expect(drains).toEqual([0])
    expect(counts).toEqual({ created: 3, connected: 3, disconnected: 3 })
    expect(connects).toBe(0)
    const failures = lines.filter((l) => l.step !== undefined)
    expect(failures.map((l) => [l.step, l.level, l.attempt])).toEqual([['topics', 50, 1], ['topics', 50, 2], ['topics', 50, 3]])
    expect(failures[0]!.msg).toMatch(/^kafka topics could not be set up/)
    expect((failures[0]!.err as { message: string }).message).toMatch(/Replication factor: 9/)
  })

  it('closes the admin client when Kafka is not reachable, and connects the publisher once the topics are set up', async () => {
    const { logger, lines } = captureLogs()
    let unreachable = 2
    const { counts, createAdmin } = admins(() => (unreachable-- > 0 ? new Error('Connection error: connect ECONNREFUSED 127.0.0.1:9092') : undefined))
    let topicsFailures = 1
    let topicsCalls = 0
    let connects = 0
    // What the receiver's readiness would say at each producer connect: its topics set up, or not yet.
    const topicsReadyAtConnect: boolean[] = []
    let topicsReadyCalls = 0
    const result = await startKafka({
      createAdmin,
      ensureTopics: async () => { topicsCalls++; if (topicsFailures-- > 0) throw new Error('topics without leaders after 30000 ms') },
      onTopicsReady: () => { topicsReadyCalls++ },
      connectPublisher: async () => { topicsReadyAtConnect.push(topicsReadyCalls > 0); if (++connects === 1) throw new Error('producer connect timed out') },
      startDraining: () => undefined,
      logger,
      sleep: async () => undefined,
    })
    expect(result).toBe(true)
    expect(lines.filter((l) => l.step !== undefined).map((l) => [l.step, l.msg])).toEqual([
      ['reach', 'kafka not reachable yet; retrying'],
      ['reach', 'kafka not reachable yet; retrying'],
      ['topics', expect.stringMatching(/^kafka topics could not be set up/)],
      ['producer', 'kafka producer could not connect yet; retrying'],
    ])
    // The retry after the failed producer connect makes no admin client: the topics were set up already.
    expect(counts).toEqual({ created: 4, connected: 2, disconnected: 4 })
    expect(topicsCalls).toBe(2)
    expect(connects).toBe(2)
    // Set up once, told once, before the failed producer connect: the topics are not what is missing then.
    expect(topicsReadyCalls).toBe(1)
    expect(topicsReadyAtConnect).toEqual([true, true])
  })

  it('goes on to no further step once a shutdown began during one, and closes the admin client', async () => {
    const { logger } = captureLogs()
    const run = async (abortIn: 'reach' | 'topics') => {
      const ends = new AbortController()
      const counts = { connected: 0, disconnected: 0, topics: 0, publisher: 0 }
      const result = await startKafka({
        createAdmin: () => ({
          connect: async () => { counts.connected++; if (abortIn === 'reach') ends.abort() },
          disconnect: async () => { counts.disconnected++ },
        }),
        ensureTopics: async () => { counts.topics++; if (abortIn === 'topics') ends.abort() },
        connectPublisher: async () => { counts.publisher++ },
        startDraining: () => undefined,
        logger,
        ends: ends.signal,
        sleep: async () => undefined,
      })
      return { result, counts }
    }
    expect(await run('reach')).toEqual({ result: false, counts: { connected: 1, disconnected: 1, topics: 0, publisher: 0 } })
    expect(await run('topics')).toEqual({ result: false, counts: { connected: 1, disconnected: 1, topics: 1, publisher: 0 } })
  })
})
