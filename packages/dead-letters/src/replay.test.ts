import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { recordReplay, type DeadLetterReplay } from '@opsreview/kafka/dead-letter'
import { ReplayFailedError } from './errors.ts'
import type { DeadLetter } from './record.ts'
import { classifyKafkaFailure, formatReplayReport, replayDeadLetters, webhookUrl, type ReplayTargets } from './replay.ts'

const logger = pino({ level: 'silent' })

let offset = 0
function dl(replay: DeadLetterReplay | undefined, reason = 'schema-invalid'): DeadLetter {
  return {
    topic: 'dlq', partition: 0, offset: String(offset++), key: null, at: 0, reason, stage: 'correlator', error: undefined, format: 'envelope',
    replay, notReplayable: replay ? undefined : 'no replay in the record',
  }
}

const record = (value: string): DeadLetterReplay => ({ kind: 'record', topic: 'alerts', key: 'k', value })
const webhook = (body: string): DeadLetterReplay => ({ kind: 'webhook', path: '/webhooks/alertmanager', body })

/** Targets that record what they were given and fail as told: the replay's bookkeeping is what is tested here. */
function targets(fail: { record?: (v: string) => Error | undefined; webhook?: (b: string) => Error | undefined } = {}) {
  const sent: string[] = []
  const t: ReplayTargets = {
    record: async (r) => { const e = fail.record?.(r.value ?? ''); if (e) throw e; sent.push(`record:${r.value}`) },
    webhook: async (w) => { const e = fail.webhook?.(w.body); if (e) throw e; sent.push(`webhook:${w.body}`) },
  }
  return { t, sent }
}

describe('replayDeadLetters', () => {
  it('replays records and webhooks in order and counts the ones without replay', async () => {
    const { t, sent } = targets()
    const report = await replayDeadLetters([dl(record('a')), dl(undefined), dl(webhook('b')), dl(record('c'))], { targets: t, dryRun: false, logger })
    expect(sent).toEqual(['record:a', 'webhook:b', 'record:c'])
    expect(report).toMatchObject({ matched: 4, replayed: 3, failed: 0, notReplayable: 1, duplicates: 0 })
  })

  it('sends nothing on a dry run', async () => {
    const { t, sent } = targets()
    const report = await replayDeadLetters([dl(record('a')), dl(webhook('b'))], { targets: t, dryRun: true, logger })
    expect(sent).toEqual([])
    expect(report).toMatchObject({ replayed: 2, dryRun: true })
    expect(report.outcomes.map((o) => o.outcome)).toEqual(['would-replay', 'would-replay'])
  })

  it('replays the same input once per run', async () => {
    const { t, sent } = targets()
    const report = await replayDeadLetters([dl(webhook('same')), dl(webhook('same')), dl(webhook('other'))], { targets: t, dryRun: false, logger })
    expect(sent).toEqual(['webhook:same', 'webhook:other'])
    expect(report).toMatchObject({ replayed: 2, duplicates: 1 })
  })

  it('takes a record letter of the older all-base64 shape and one written since of the same bytes as the same input', async () => {
    const { t, sent } = targets()
    const trace = Buffer.from([0xc3, 0x28])
    const old: DeadLetterReplay = { kind: 'record', topic: 'alerts', key: 'aw==', value: Buffer.from('{"id":"e1"}').toString('base64'), encoding: 'base64', headers: { trace: [trace.toString('base64')] } }
    const now = recordReplay('alerts', { key: 'k', value: '{"id":"e1"}', headers: { trace } })
    const other = recordReplay('alerts', { key: 'k', value: '{"id":"e1"}', headers: { trace: Buffer.from([0xc3, 0x29]) } })
    const report = await replayDeadLetters([dl(old), dl(now), dl(other)], { targets: t, dryRun: false, logger })
    expect(report).toMatchObject({ replayed: 2, duplicates: 1 })
    expect(sent).toHaveLength(2)
  })

  it('reports a duplicate of an input that failed as failed too, without sending it again', async () => {
    let tries = 0
    const { t, sent } = targets({ webhook: (b) => { tries++; return b === 'same' ? new ReplayFailedError('receiver answered 422', false, { status: 422 }) : undefined } })
    const letters = [dl(webhook('same')), dl(webhook('same')), dl(webhook('other'))]
    const report = await replayDeadLetters(letters, { targets: t, dryRun: false, logger })
    expect(tries).toBe(2)
    expect(sent).toEqual(['webhook:other'])
    expect(report).toMatchObject({ replayed: 1, failed: 2, duplicates: 0 })
    expect(report.outcomes[1]).toMatchObject({ outcome: 'failed', retriable: false, status: 422, error: `same input as dlq/0@${letters[0]!.offset}, not sent again: receiver answered 422` })
    const text = formatReplayReport(report)
    expect(text).toMatch(/failed again\s+2/)
    expect(text).not.toContain('replayed once')
  })

  it('reports a refused replay and goes on with the others', async () => {
    const { t, sent } = targets({ webhook: (b) => (b === 'bad' ? new ReplayFailedError('receiver answered 422', false, { status: 422 }) : undefined) })
    const report = await replayDeadLetters([dl(webhook('bad')), dl(webhook('good'))], { targets: t, dryRun: false, logger })
    expect(sent).toEqual(['webhook:good'])
    expect(report).toMatchObject({ replayed: 1, failed: 1 })
    expect(report.outcomes[0]).toMatchObject({ outcome: 'failed', retriable: false, status: 422, error: 'receiver answered 422' })
  })

  it('stops trying a target that is unavailable, but not the other target', async () => {
    let tries = 0
    const { t, sent } = targets({ webhook: () => { tries++; return new ReplayFailedError('receiver unreachable', true) } })
    const report = await replayDeadLetters([dl(webhook('1')), dl(webhook('2')), dl(record('r')), dl(webhook('3'))], { targets: t, dryRun: false, logger })
    expect(tries).toBe(1)
    expect(sent).toEqual(['record:r'])
    expect(report).toMatchObject({ replayed: 1, failed: 3 })
    expect(report.outcomes[1]).toMatchObject({ outcome: 'failed', retriable: true, error: 'not tried: receiver unreachable' })
  })

  it('prints what it did', async () => {
    const { t } = targets({ record: (v) => (v === 'x' ? new ReplayFailedError('Kafka refused the record: MESSAGE_TOO_LARGE', false) : undefined) })
    const report = await replayDeadLetters([dl(record('a')), dl(record('x')), dl(undefined), dl(webhook('w'))], { targets: t, dryRun: false, logger })
    const text = formatReplayReport(report)
    expect(text).toContain('4 dead letter(s) matched')
    expect(text).toMatch(/replayed\s+2/)
    expect(text).toContain('1 to topic alerts')
    expect(text).toContain('1 to receiver /webhooks/alertmanager')
    expect(text).toMatch(/failed again\s+1/)
    expect(text).toMatch(/dlq\/0@\d+ \(schema-invalid\) to topic alerts: Kafka refused the record: MESSAGE_TOO_LARGE/)
    expect(text).toMatch(/not replayable\s+1/)
    expect(text).toContain('1: no replay in the record')
  })
})

describe('webhookUrl', () => {
  const base = new URL('http://127.0.0.1:8080')
  it('puts the path on the receiver', () => {
    expect(webhookUrl(base, '/webhooks/pingdom').href).toBe('http://127.0.0.1:8080/webhooks/pingdom')
    expect(webhookUrl(new URL('http://gw.local/opsreview/'), '/webhooks/alertmanager').href).toBe('http://gw.local/opsreview/webhooks/alertmanager')
  })
  it.each(['//evil.example/x', 'http://evil.example/x', 'webhooks/pingdom'])('never leaves the receiver: %s', (path) => {
    expect(() => webhookUrl(base, path)).toThrow(ReplayFailedError)
  })
})

describe('classifyKafkaFailure', () => {
  it('a record Kafka refuses fails again; anything else is Kafka unavailable', () => {
    const tooLarge = Object.assign(new Error('too large'), { name: 'KafkaJSProtocolError', type: 'MESSAGE_TOO_LARGE' })
    const wrapped = Object.assign(new Error('retries exceeded', { cause: tooLarge }), { name: 'KafkaJSNumberOfRetriesExceeded' })
    expect(classifyKafkaFailure(wrapped)).toMatchObject({ retriable: false, message: 'Kafka refused the record: MESSAGE_TOO_LARGE' })
    expect(classifyKafkaFailure(Object.assign(new Error('Connection error: ECONNREFUSED'), { name: 'KafkaJSConnectionError' }))).toMatchObject({ retriable: true })
  })
})
