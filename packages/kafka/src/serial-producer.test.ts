import type { Producer } from 'kafkajs'
import { pino } from 'pino'
import { describe, expect, it, onTestFinished, vi } from 'vitest'
import { KafkaUnavailableError } from './errors.ts'
import { SerialProducer } from './serial-producer.ts'

/**
 * kafkajs producers as the test scripts them: each logs what it sends and answers from `answers` in turn;
 * 'hang' is a send that goes on until `release()` (a kafkajs producer retrying past its caller's deadline),
 * 'never' one that never returns (a producer retrying for ever). The connects of the producers in
 * `hangingConnects` wait until `connected()` lets them finish.
 */
function producers(answers: (Error | 'hang' | 'never' | undefined)[], hangingConnects: number[] = []) {
  const log: string[] = []
  const waiting: (() => void)[] = []
  const held: (() => void)[] = []
  let made = 0
  const create = () => {
    const id = ++made
    return {
      connect: async () => {
        log.push(`connect ${id}`)
        if (hangingConnects.includes(id)) await new Promise<void>((resolve) => waiting.push(resolve))
      },
      disconnect: async () => { log.push(`disconnect ${id}`) },
      send: async ({ messages }: { messages: { value: string }[] }) => {
        const value = messages[0]!.value
        log.push(`start ${value} on ${id}`)
        const answer = answers.shift()
        if (answer === 'never') await new Promise(() => undefined)
        if (answer === 'hang') await new Promise<void>((resolve) => held.push(resolve))
        await new Promise((resolve) => setTimeout(resolve, 5))
        log.push(`end ${value}`)
        if (answer) throw answer
        return []
      },
    } as unknown as Producer
  }
  return {
    log, create, made: () => made,
    connected: () => { for (const resolve of waiting.splice(0)) resolve() },
    release: () => { for (const resolve of held.splice(0)) resolve() },
  }
}

const send = (p: SerialProducer, value: string) => p.send({ topic: 't', messages: [{ value }] })

describe('SerialProducer', () => {
  it('sends one request at a time, in call order', async () => {
    const kafka = producers([])
    const p = new SerialProducer(kafka.create, pino({ level: 'silent' }), 'test')
    await p.connect()
    await Promise.all([send(p, 'a'), send(p, 'b'), send(p, 'c')])
    expect(kafka.log).toEqual(['connect 1', 'start a on 1', 'end a', 'start b on 1', 'end b', 'start c on 1', 'end c'])
  })

  it('sends after a failed send with a fresh producer, connected first; the failure is its caller\'s alone', async () => {
    const kafka = producers([new Error('Request timed out')])
    const p = new SerialProducer(kafka.create, pino({ level: 'silent' }), 'test')
    await p.connect()
    const [a, b] = await Promise.allSettled([send(p, 'a'), send(p, 'b')])
    expect(a).toMatchObject({ status: 'rejected', reason: { message: 'Request timed out' } })
    expect(b).toMatchObject({ status: 'fulfilled' })
    expect(kafka.made()).toBe(2)
    expect(kafka.log.filter((l) => !l.startsWith('disconnect'))).toEqual(['connect 1', 'start a on 1', 'end a', 'connect 2', 'start b on 2', 'end b'])
    expect(kafka.log).toContain('disconnect 1')
  })
  it('fails a send that outlives its deadline as Kafka unavailable; the next waits for its end, then goes on a fresh producer id', async () => {
    const kafka = producers(['hang'])
    // Long enough for 'b' to connect and send within its own deadline on a loaded machine.
    const p = new SerialProducer(kafka.create, pino({ level: 'silent' }), 'test', { sendTimeoutMs: 1000 })
    await p.connect()
    await expect(send(p, 'a')).rejects.toSatisfy((err) => err instanceof KafkaUnavailableError && err.retriable)
    const b = send(p, 'b')
    await new Promise((resolve) => setTimeout(resolve, 100))
    // 'a' goes on inside kafkajs and may still land: 'b' landing before it would put it out of order.
    expect(kafka.log).toEqual(['connect 1', 'start a on 1', 'disconnect 1'])
    kafka.release()
    await b
    expect(kafka.log).toEqual(['connect 1', 'start a on 1', 'disconnect 1', 'end a', 'connect 2', 'start b on 2', 'end b'])
  })

  it('counts the deadline from the call: a send queued behind one that hangs fails with it, unsent, and the next still waits for it', async () => {
    // A fake clock: both sends are called at the same millisecond, and their deadlines are the same.
    vi.useFakeTimers({ toFake: ['performance', 'setTimeout', 'clearTimeout'] })
    onTestFinished(() => { vi.useRealTimers() })
    const kafka = producers(['hang'])
    const p = new SerialProducer(kafka.create, pino({ level: 'silent' }), 'test', { sendTimeoutMs: 50 })
    await p.connect()
    const both = Promise.allSettled([send(p, 'a'), send(p, 'b')])
    await vi.advanceTimersByTimeAsync(50)
    const [a, b] = await both
    expect(a).toMatchObject({ status: 'rejected', reason: { message: 'kafka send (test) did not finish within 50 ms' } })
    expect(b).toMatchObject({ status: 'rejected', reason: { message: 'kafka send (test) waited 50 ms for the sends before it' } })
    const c = send(p, 'c')
    await vi.advanceTimersByTimeAsync(20)
    kafka.release()
    await vi.advanceTimersByTimeAsync(10)
    await c
    expect(kafka.log).toEqual(['connect 1', 'start a on 1', 'disconnect 1', 'end a', 'connect 2', 'start c on 2', 'end c'])
  })

  it('stops waiting for a timed-out send that never ends after abandonAfterMs, and says so', async () => {
    const kafka = producers(['never'])
    const warnings: string[] = []
    const logger = pino({ level: 'warn' }, { write: (line: string) => { warnings.push((JSON.parse(line) as { msg: string }).msg) } })
    const p = new SerialProducer(kafka.create, logger, 'test', { sendTimeoutMs: 1000, abandonAfterMs: 50 })
    await p.connect()
    await expect(send(p, 'a')).rejects.toBeInstanceOf(KafkaUnavailableError)
    await send(p, 'b')
    expect(kafka.log).toEqual(['connect 1', 'start a on 1', 'disconnect 1', 'connect 2', 'start b on 2', 'end b'])
    expect(warnings).toContain('a timed-out kafka send has not ended: the sends after it go on without waiting for it')
  })

  it('fails a connect that outlives the deadline the same way, and never sends on that producer once it connects late', async () => {
    const kafka = producers([new Error('Request timed out')], [2])
    // Long enough for 'b' to connect and send within its own deadline on a loaded machine.
    const p = new SerialProducer(kafka.create, pino({ level: 'silent' }), 'test', { sendTimeoutMs: 500 })
    await p.connect()
    await expect(send(p, 'a')).rejects.toThrow('Request timed out')
    await expect(send(p, 'b')).rejects.toBeInstanceOf(KafkaUnavailableError)
    kafka.connected()
    await send(p, 'c')
    await p.disconnect()
    expect(kafka.log.filter((l) => !l.startsWith('disconnect'))).toEqual(['connect 1', 'start a on 1', 'end a', 'connect 2', 'connect 3', 'start c on 3', 'end c'])
    // Producer 2 once when replaced, and again when its late connect finished.
    expect(kafka.log.filter((l) => l === 'disconnect 2')).toHaveLength(2)
  })
})
