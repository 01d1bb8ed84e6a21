import type { Producer } from 'kafkajs'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { SerialProducer } from './serial-producer.ts'

/** kafkajs producers as the test scripts them: each logs what it sends and answers from `answers` in turn. */
function producers(answers: (Error | undefined)[]) {
  const log: string[] = []
  let made = 0
  const create = () => {
    const id = ++made
    return {
      connect: async () => { log.push(`connect ${id}`) },
      disconnect: async () => { log.push(`disconnect ${id}`) },
      send: async ({ messages }: { messages: { value: string }[] }) => {
        const value = messages[0]!.value
        log.push(`start ${value} on ${id}`)
        await new Promise((resolve) => setTimeout(resolve, 5))
        log.push(`end ${value}`)
        const answer = answers.shift()
        if (answer) throw answer
        return []
      },
    } as unknown as Producer
  }
  return { log, create, made: () => made }
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
})
