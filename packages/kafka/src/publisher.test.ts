import { createRequire } from 'node:module'
import { describe, expect, it, onTestFinished, vi } from 'vitest'
import fc from 'fast-check'
import type { Message, Producer } from 'kafkajs'
import { pino } from 'pino'
import { captureLogs } from '@opsreview/testing'
import { recordRefusal } from './errors.ts'
import { BatchPublisher, DEFAULT_MAX_MESSAGE_BYTES, estimateMessageBytes, requestsOf } from './publisher.ts'

// kafkajs's own encoders (produce v3+ request, src/protocol/requests/produce/v3/request.js): the bytes a
// single-record batch really takes on the broker, which is what max.message.bytes limits.
const require = createRequire(import.meta.url)
const Record = require('kafkajs/src/protocol/recordBatch/record/v0') as (r: object) => unknown
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0') as { RecordBatch: (b: object) => Promise<{ size(): number }> }

async function encodedBatchBytes(m: Message): Promise<number> {
  const batch = await RecordBatch({ records: [Record({ ...m, offsetDelta: 0, timestampDelta: 0 })], lastOffsetDelta: 0 })
  return batch.size()
}

const bytesOrString = (max: number) => fc.oneof(fc.string({ maxLength: max, unit: 'grapheme' }), fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a)))

describe('estimateMessageBytes', () => {
  it('is never below the size kafkajs encodes for the message in a batch of its own', async () => {
    await fc.assert(fc.asyncProperty(
      fc.record({
        key: fc.option(bytesOrString(300), { nil: null }),
        value: fc.option(bytesOrString(70_000), { nil: null }),
        headers: fc.option(fc.dictionary(fc.string({ maxLength: 20 }), fc.oneof(bytesOrString(50), fc.array(bytesOrString(50), { maxLength: 3 })), { maxKeys: 4 }), { nil: undefined }),
      }),
      async (m) => {
        const message: Message = { key: m.key, value: m.value, ...(m.headers ? { headers: m.headers } : {}) }
        expect(estimateMessageBytes(message)).toBeGreaterThanOrEqual(await encodedBatchBytes(message))
      },
    ), { numRuns: 200 })
  })

  it('counts a value of exactly the default limit as over it', () => {
    expect(estimateMessageBytes({ key: null, value: 'x'.repeat(DEFAULT_MAX_MESSAGE_BYTES) })).toBeGreaterThan(DEFAULT_MAX_MESSAGE_BYTES)
    expect(estimateMessageBytes({ key: 'k', value: 'x'.repeat(DEFAULT_MAX_MESSAGE_BYTES - 200) })).toBeLessThanOrEqual(DEFAULT_MAX_MESSAGE_BYTES)
  })

  it('keeps the default limit under Kafka\'s default max.message.bytes (1048588)', () => {
    expect(DEFAULT_MAX_MESSAGE_BYTES).toBeLessThan(1048588)
  })
})

describe('requestsOf', () => {
  it('cuts messages into requests under the byte limit, keeping their order and topics, a large one alone', () => {
    const m = (value: string) => ({ key: 'k', value })
    const requests = requestsOf([
      { topic: 'incidents', messages: [m('a'.repeat(300)), m('b'.repeat(300)), m('c'.repeat(300))] },
      { topic: 'results', messages: [m('d'.repeat(2_000)), m('e')] },
    ], 850)
    const shape = requests.map((r) => r.map((t) => `${t.topic}:${t.messages.map((x) => String(x.value)[0]).join('')}`))
    expect(shape).toEqual([['incidents:ab'], ['incidents:c'], ['results:d'], ['results:e']])
    for (const r of requests) {
      const bytes = r.flatMap((t) => t.messages).reduce((sum, x) => sum + estimateMessageBytes(x), 0)
      expect(bytes <= 850 || r.flatMap((t) => t.messages).length === 1).toBe(true)
    }
    expect(requestsOf([])).toEqual([])
  })
})

describe('recordRefusal', () => {
  it('finds the refusal in kafkajs errors and their causes, and nothing in unavailability', () => {
    expect(recordRefusal({ name: 'KafkaJSProtocolError', type: 'MESSAGE_TOO_LARGE' })).toBe('MESSAGE_TOO_LARGE')
    expect(recordRefusal({ name: 'KafkaJSNonRetriableError', cause: { type: 'INVALID_RECORD' } })).toBe('INVALID_RECORD')
    expect(recordRefusal({ name: 'KafkaJSNumberOfRetriesExceeded', cause: { cause: { type: 'RECORD_LIST_TOO_LARGE' } } })).toBe('RECORD_LIST_TOO_LARGE')
    expect(recordRefusal({ name: 'KafkaJSProtocolError', type: 'OUT_OF_ORDER_SEQUENCE_NUMBER' })).toBeUndefined()
    expect(recordRefusal({ name: 'KafkaJSProtocolError', type: 'CORRUPT_MESSAGE' })).toBeUndefined()
    expect(recordRefusal({ name: 'KafkaJSError', originalError: { type: 'MESSAGE_TOO_LARGE' } })).toBe('MESSAGE_TOO_LARGE')
    expect(recordRefusal(new Error('Connection error: ECONNREFUSED'))).toBeUndefined()
    expect(recordRefusal(undefined)).toBeUndefined()
  })

  it('sends no more of a caller the first half of a split batch failed for, and answers its rest with that failure', async () => {
    // A producer stand-in (the logic under test is the publisher's own): the broker refuses the whole
    // batch, then is unreachable for its first half; the second half must not be acknowledged ahead of it.
    const sent: string[][] = []
    const answers: unknown[] = [
      Object.assign(new Error('refused'), { name: 'KafkaJSProtocolError', type: 'MESSAGE_TOO_LARGE' }),
      Object.assign(new Error('Connection error: ECONNREFUSED'), { name: 'KafkaJSConnectionError' }),
    ]
    const producer = {
      connect: async () => undefined, disconnect: async () => undefined, on: () => () => undefined,
      sendBatch: async ({ topicMessages }: { topicMessages: { messages: Message[] }[] }) => {
        sent.push(topicMessages.flatMap((t) => t.messages.map((m) => String(m.value))))
        const answer = answers.shift()
        if (answer) throw answer
        return []
      },
    }
    const publisher = new BatchPublisher({ createProducer: () => producer as unknown as Producer, logger: pino({ level: 'silent' }) })
    await publisher.connect()
    const outcomes = await publisher.publishEach('t', ['a', 'b', 'c', 'd'].map((value) => ({ key: 'k', value })))
    await publisher.close()
    expect(sent).toEqual([['a', 'b', 'c', 'd'], ['a', 'b']])
    expect(outcomes.map((o) => o?.name)).toEqual(['KafkaUnavailableError', 'KafkaUnavailableError', 'KafkaUnavailableError', 'KafkaUnavailableError'])
  })
})

describe('BatchPublisher after a failed send', () => {
  it('publishes after a failed send through a fresh producer id: kafkajs gave the failed attempt\'s sequence numbers back', async () => {
    const made: string[][] = []
    const answers: unknown[] = [Object.assign(new Error('Request Produce(key: 0, version: 7) timed out after 30000ms'), { name: 'KafkaJSRequestTimeoutError' })]
    const createProducer = () => {
      const sent: string[] = []
      made.push(sent)
      return {
        connect: async () => undefined, disconnect: async () => undefined, on: () => () => undefined,
        sendBatch: async ({ topicMessages }: { topicMessages: { messages: Message[] }[] }) => {
          sent.push(...topicMessages.flatMap((t) => t.messages.map((m) => String(m.value))))
          const answer = answers.shift()
          if (answer) throw answer
          return []
        },
      } as unknown as Producer
    }
    const publisher = new BatchPublisher({ createProducer, logger: pino({ level: 'silent' }) })
    await publisher.connect()
    await expect(publisher.publish('t', [{ key: 'k', value: 'a' }])).rejects.toMatchObject({ name: 'KafkaUnavailableError' })
    await publisher.publish('t', [{ key: 'k', value: 'b' }])
    await publisher.close()
    expect(made).toEqual([['a'], ['b']])
  })
})

describe('BatchPublisher while Kafka is slower than the input', () => {
  it('fails calls at once, as unavailable, once its queue is full, and takes them again as it empties', async () => {
    let release: () => void = () => undefined
    const sends: number[] = []
    const producer = {
      connect: async () => undefined, disconnect: async () => undefined, on: () => () => undefined,
      // Kafka holds each request until the test releases it.
      sendBatch: async ({ topicMessages }: { topicMessages: { messages: Message[] }[] }) => {
        sends.push(topicMessages.reduce((n, t) => n + t.messages.length, 0))
        await new Promise<void>((resolve) => { release = resolve })
        return []
      },
    }
    const publisher = new BatchPublisher({ createProducer: () => producer as unknown as Producer, logger: pino({ level: 'silent' }), maxQueuedMessages: 5 })
    await publisher.connect()
    const m = (value: string) => ({ key: 'k', value })
    const first = publisher.publish('t', [m('in flight')])
    while (sends.length === 0) await new Promise((resolve) => setTimeout(resolve, 1))
    // In flight: 1; queued behind it: 3 + 2 = 5, the limit; one more is refused, not queued.
    const queued = [publisher.publish('t', [m('a'), m('b'), m('c')]), publisher.publishEach('t', [m('d'), m('e')])]
    const over = await publisher.publishEach('t', [m('f')])
    expect(over.map((o) => o?.name)).toEqual(['KafkaUnavailableError'])
    await expect(publisher.publish('t', [m('g')])).rejects.toMatchObject({ name: 'KafkaUnavailableError', message: expect.stringContaining('slower than the input') })
    release()
    await first
    while (sends.length < 2) await new Promise((resolve) => setTimeout(resolve, 1))
    expect(sends).toEqual([1, 5])
    // The queue is empty again while those five are in flight: a call is taken.
    const after = publisher.publish('t', [m('h')])
    release()
    await Promise.all(queued)
    while (sends.length < 3) await new Promise((resolve) => setTimeout(resolve, 1))
    release()
    await after
    await publisher.close()
  })
})


describe('BatchPublisher when the breaker times out a slow connect', () => {
  it('never sends the abandoned batch, nor marks the replacement producer connected', async () => {
    // Producer stand-ins (the logic under test is the publisher's own): the first connects slower than the
    // send timeout, so the breaker times the send out and renews the producer while that connect runs.
    const sends: string[] = []
    let slowConnected: () => void = () => undefined
    const slowConnectDone = new Promise<void>((resolve) => { slowConnected = resolve })
    let made = 0
    const createProducer = () => {
      const id = ++made
      let connected = false
      return {
        on: () => () => undefined,
        connect: async () => {
          if (id === 1) await new Promise((resolve) => setTimeout(resolve, 300))
          connected = true
          if (id === 1) setImmediate(slowConnected)
        },
        disconnect: async () => { connected = false },
        sendBatch: async ({ topicMessages }: { topicMessages: { messages: Message[] }[] }) => {
          sends.push(`producer ${id} ${connected ? 'connected' : 'not connected'}: ${topicMessages.flatMap((t) => t.messages.map((m) => String(m.value))).join()}`)
          if (!connected) throw new Error('The producer is disconnected')
          return []
        },
      } as unknown as Producer
    }
    // No connect(): the first send connects, as while the receiver's connect loop still runs.
    const publisher = new BatchPublisher({ createProducer, logger: pino({ level: 'silent' }), sendTimeoutMs: 100 })
    expect((await publisher.publishEach('t', [{ key: 'k', value: 'a' }])).map((o) => o?.name)).toEqual(['KafkaUnavailableError'])
    await slowConnectDone
    expect(await publisher.publishEach('t', [{ key: 'k', value: 'b' }])).toEqual([undefined])
    await publisher.close()
    expect(sends).toEqual(['producer 2 connected: b'])
  })
})

describe('BatchPublisher readiness after a failed send', () => {
  /** Producer stand-ins whose sends fail while `down`, whose connects fail while `unreachable`. */
  function producers() {
    const state = { down: false, unreachable: false, connects: 0, made: 0 }
    const createProducer = () => {
      state.made++
      const listeners = new Map<string, (() => void)[]>()
      const emit = (event: string) => { for (const f of listeners.get(event) ?? []) f() }
      return {
        on: (event: string, f: () => void) => { listeners.set(event, [...(listeners.get(event) ?? []), f]); return () => undefined },
        connect: async () => {
          state.connects++
          if (state.unreachable) throw Object.assign(new Error('Connection error: ECONNREFUSED'), { name: 'KafkaJSConnectionError', retriable: true })
          emit('producer.connect')
        },
        disconnect: async () => { emit('producer.disconnect') },
        sendBatch: async () => {
          if (state.down) throw Object.assign(new Error('Connection error: ECONNREFUSED'), { name: 'KafkaJSConnectionError' })
          return []
        },
      } as unknown as Producer
    }
    return { state, createProducer }
  }

  it('turns ready again without any send once the replacement producer can connect', async () => {
    const { state, createProducer } = producers()
    const publisher = new BatchPublisher({ createProducer, logger: pino({ level: 'silent' }) })
    await publisher.connect()
    expect(publisher.ready).toBe(true)
    state.down = true
    state.unreachable = true
    expect((await publisher.publishEach('t', [{ key: 'k', value: 'a' }])).map((o) => o?.name)).toEqual(['KafkaUnavailableError'])
    expect(publisher.ready).toBe(false)
    expect(publisher.breakerState).toBe('closed')
    // Kafka back: nothing is published, yet the replacement connects and readiness returns.
    await new Promise((resolve) => setTimeout(resolve, 300))
    state.down = false
    state.unreachable = false
    await expect.poll(() => publisher.ready, { timeout: 5000 }).toBe(true)
    expect(state.made).toBe(2)
    await publisher.close()
  })

  it('stops trying to connect the replacement producer once closed', async () => {
    vi.useFakeTimers()
    onTestFinished(() => { vi.useRealTimers() })
    const { state, createProducer } = producers()
    // The reconnect back-off on the global (fake) setTimeout: node:timers/promises is not faked.
    const reconnectSleep = (ms: number, ends: AbortSignal) => new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms)
      ends.addEventListener('abort', () => { clearTimeout(timer); resolve() }, { once: true })
    })
    const publisher = new BatchPublisher({ createProducer, logger: pino({ level: 'silent' }), reconnectSleep })
    await publisher.connect()
    state.down = true
    state.unreachable = true
    const outcomes = publisher.publishEach('t', [{ key: 'k', value: 'a' }])
    await vi.advanceTimersByTimeAsync(0)
    await outcomes
    // The replacement's first attempt, then one after each back-off (250 ms, 500 ms).
    await vi.advanceTimersByTimeAsync(750)
    expect(state.connects).toBeGreaterThanOrEqual(3)
    await publisher.close()
    const connects = state.connects
    // Past the longest back-off (RECONNECT_MAX_DELAY_MS, 5 s) twice over: any attempt still scheduled has come.
    await vi.advanceTimersByTimeAsync(2 * 5_000)
    expect(state.connects).toBe(connects)
    expect(publisher.ready).toBe(false)
  })
})

describe('BatchPublisher keeping order after a timed-out send', () => {
  /** Producer stand-ins sharing one log of what was sent; each send waits until the test releases it. */
  function heldProducers() {
    const sent: string[] = []
    const releases: (() => void)[] = []
    const createProducer = () => {
      let onConnect = () => undefined as void
      return {
        on: (event: string, f: () => void) => { if (event === 'producer.connect') onConnect = f; return () => undefined },
        connect: async () => { onConnect() },
        disconnect: async () => undefined,
        sendBatch: async ({ topicMessages }: { topicMessages: { messages: Message[] }[] }) => {
          const values = topicMessages.flatMap((t) => t.messages.map((m) => String(m.value)))
          await new Promise<void>((resolve) => releases.push(resolve))
          sent.push(...values)
          return []
        },
      } as unknown as Producer
    }
    const releaseAll = () => { for (const release of releases.splice(0)) release() }
    return { sent, releases, releaseAll, createProducer }
  }
  const m = (value: string) => ({ key: 'incident-1', value })

  it('fails what was queued and every call until the timed-out send has ended, then sends after it', async () => {
    const { sent, releases, releaseAll, createProducer } = heldProducers()
    const publisher = new BatchPublisher({ createProducer, logger: pino({ level: 'silent' }), sendTimeoutMs: 50, keepOrder: true })
    await publisher.connect()
    const first = publisher.publish('t', [m('owner alice')])
    while (releases.length === 0) await new Promise((resolve) => setTimeout(resolve, 1))
    const queued = publisher.publishEach('t', [m('owner carol')])
    await expect(first).rejects.toMatchObject({ name: 'KafkaUnavailableError', message: expect.stringContaining('did not acknowledge') })
    expect((await queued).map((o) => o?.message)).toEqual([expect.stringContaining('timed out has not ended')])
    await expect(publisher.publish('t', [m('owner bob')])).rejects.toMatchObject({ name: 'KafkaUnavailableError', message: expect.stringContaining('timed out has not ended') })
    expect(publisher.ready).toBe(false)

    // The timed-out send lands after all; only then does the next go.
    releaseAll()
    await expect.poll(() => publisher.ready).toBe(true)
    const later = publisher.publish('t', [m('owner bob')])
    while (releases.length === 0) await new Promise((resolve) => setTimeout(resolve, 1))
    releaseAll()
    await later
    await publisher.close()
    expect(sent).toEqual(['owner alice', 'owner bob'])
  })

  it('goes on without a timed-out send that has not ended after abandonAfterMs', async () => {
    const { sent, releases, createProducer } = heldProducers()
    const { logger, lines } = captureLogs()
    const publisher = new BatchPublisher({ createProducer, logger, sendTimeoutMs: 50, keepOrder: true, abandonAfterMs: 200 })
    await publisher.connect()
    await expect(publisher.publish('t', [m('owner alice')])).rejects.toMatchObject({ name: 'KafkaUnavailableError' })
    await expect.poll(() => publisher.ready, { timeout: 2_000 }).toBe(true)
    expect(lines.map((l) => l.msg)).toContain('a timed-out kafka send has not ended: the sends after it go on without waiting for it')
    const later = publisher.publish('t', [m('owner bob')])
    while (releases.length < 2) await new Promise((resolve) => setTimeout(resolve, 1))
    releases[1]!()
    await later
    expect(sent).toEqual(['owner bob'])
    releases[0]!()
    await publisher.close()
  })

  it('closes without waiting for a timed-out send', async () => {
    const { releases, createProducer } = heldProducers()
    const publisher = new BatchPublisher({ createProducer, logger: pino({ level: 'silent' }), sendTimeoutMs: 50, keepOrder: true })
    await publisher.connect()
    await expect(publisher.publish('t', [m('owner alice')])).rejects.toMatchObject({ name: 'KafkaUnavailableError' })
    const started = Date.now()
    await publisher.close()
    expect(Date.now() - started).toBeLessThan(5_000)
    releases[0]!()
  })

  it('holds nothing back after a send that failed by itself: it has ended and can land nothing later', async () => {
    const sent: string[] = []
    let calls = 0
    const createProducer = () => ({
      connect: async () => undefined, disconnect: async () => undefined, on: () => () => undefined,
      sendBatch: async ({ topicMessages }: { topicMessages: { messages: Message[] }[] }) => {
        await new Promise((resolve) => setTimeout(resolve, 20))
        if (++calls === 1) throw Object.assign(new Error('Connection error: ECONNREFUSED'), { name: 'KafkaJSConnectionError' })
        sent.push(...topicMessages.flatMap((t) => t.messages.map((x) => String(x.value))))
        return []
      },
    }) as unknown as Producer
    const publisher = new BatchPublisher({ createProducer, logger: pino({ level: 'silent' }), sendTimeoutMs: 5_000, keepOrder: true })
    await publisher.connect()
    const first = publisher.publish('t', [m('owner alice')])
    await new Promise((resolve) => setTimeout(resolve, 5))
    const queued = publisher.publish('t', [m('owner bob')])
    await expect(first).rejects.toMatchObject({ name: 'KafkaUnavailableError', message: expect.stringContaining('ECONNREFUSED') })
    await queued
    await publisher.close()
    expect(sent).toEqual(['owner bob'])
  })

  it('fails the second half of a split batch at once when the first half timed out, instead of sending it after that send', async () => {
    const releases: (() => void)[] = []
    const sends: string[][] = []
    const createProducer = () => ({
      connect: async () => undefined, disconnect: async () => undefined, on: () => () => undefined,
      sendBatch: async ({ topicMessages }: { topicMessages: { messages: Message[] }[] }) => {
        const values = topicMessages.flatMap((t) => t.messages.map((x) => String(x.value)))
        sends.push(values)
        // The whole batch is refused for its records; its first half then hangs until released.
        if (sends.length === 1) throw Object.assign(new Error('refused'), { name: 'KafkaJSProtocolError', type: 'MESSAGE_TOO_LARGE' })
        await new Promise<void>((resolve) => releases.push(resolve))
        return []
      },
    }) as unknown as Producer
    const publisher = new BatchPublisher({ createProducer, logger: pino({ level: 'silent' }), sendTimeoutMs: 50, keepOrder: true, abandonAfterMs: 60_000 })
    await publisher.connect()
    const started = Date.now()
    const [alice, bob] = [publisher.publishEach('t', [m('owner alice')]), publisher.publishEach('t', [m('owner bob')])]
    expect((await alice).map((o) => o?.name)).toEqual(['KafkaUnavailableError'])
    expect((await bob).map((o) => o?.message)).toEqual([expect.stringContaining('timed out has not ended')])
    expect(Date.now() - started).toBeLessThan(5_000)
    expect(sends).toEqual([['owner alice', 'owner bob'], ['owner alice']])
    for (const release of releases) release()
    await publisher.close()
  })

  it('does not wait after a failed send by default: the next send goes on a fresh producer at once', async () => {
    const { sent, releases, createProducer } = heldProducers()
    const publisher = new BatchPublisher({ createProducer, logger: pino({ level: 'silent' }), sendTimeoutMs: 50 })
    await publisher.connect()
    await expect(publisher.publish('t', [m('alert 1')])).rejects.toMatchObject({ name: 'KafkaUnavailableError' })
    const later = publisher.publish('t', [m('alert 2')])
    while (releases.length < 2) await new Promise((resolve) => setTimeout(resolve, 1))
    releases[1]!()
    await later
    releases[0]!()
    await publisher.close()
    expect(sent).toEqual(['alert 2', 'alert 1'])
  })
})
