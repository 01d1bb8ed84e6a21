import { execFileSync } from 'node:child_process'
import path from 'node:path'
import kafkajs from 'kafkajs'
import { describe, expect, it, onTestFinished } from 'vitest'
import { connectedAdmin, createTopics, kafkaBrokers, kafkaClient, readTopicUntil, repoRoot, uniqueName } from '@opsreview/testing'
import { registerCompressionCodecs } from './compression.ts'

const { CompressionTypes } = kafkajs
const codecs = ['snappy', 'lz4', 'zstd'] as const

/** The Kafka distribution infra/local runs: its own console producer is the foreign producer here. */
const kafkaHome = execFileSync('bash', ['-c', 'source infra/local/common.sh && echo "$KAFKA_HOME"'], { cwd: repoRoot, encoding: 'utf8' }).trim()

/** Writes `lines` (key TAB value) with the Java client, compressed with `codec`, as another team's producer would. */
function produceWithJava(topic: string, codec: string, lines: string[]): void {
  execFileSync('java', [
    '-Xmx128m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-cp', path.join(kafkaHome, 'libs', '*'), 'kafka.tools.ConsoleProducer',
    '--bootstrap-server', kafkaBrokers.join(','), '--topic', topic, '--compression-codec', codec, '--sync',
    '--property', 'parse.key=true', '--property', 'key.separator=\t',
  ], { input: `${lines.join('\n')}\n`, stdio: ['pipe', 'ignore', 'pipe'], timeout: 60_000 })
}

describe('records compressed with snappy, lz4 and zstd (real broker, Java producer)', () => {
  it('reads what the Java client wrote in each codec, and writes each codec the broker accepts', async () => {
    registerCompressionCodecs()
    const topic = uniqueName('compressed')
    const kafka = kafkaClient()
    const admin = await connectedAdmin(kafka)
    await createTopics(admin, [topic], 1)
    onTestFinished(async () => { await admin.deleteTopics({ topics: [topic] }).catch(() => undefined) })

    const expected: string[] = []
    for (const codec of codecs) {
      // Long enough that every codec really compresses (a value of a few bytes may be stored as is).
      const lines = [1, 2, 3].map((n) => `java-${codec}-${n}\t${JSON.stringify({ codec, n, text: 'checkout latency high '.repeat(40) })}`)
      produceWithJava(topic, codec, lines)
      expected.push(...lines.map((l) => l.split('\t')[0]!))
    }
    const producer = kafka.producer()
    await producer.connect()
    for (const [codec, type] of [['snappy', CompressionTypes.Snappy], ['lz4', CompressionTypes.LZ4], ['zstd', CompressionTypes.ZSTD]] as const) {
      const messages = [1, 2].map((n) => ({ key: `js-${codec}-${n}`, value: JSON.stringify({ codec, n, text: 'search errors '.repeat(60) }) }))
      await producer.send({ topic, compression: type, messages })
      expected.push(...messages.map((m) => m.key))
    }
    await producer.disconnect()

    const read = await readTopicUntil(kafka, topic, (ms) => ms.length >= expected.length)
    expect(read.map((m) => m.key)).toEqual(expected)
    for (const m of read) expect(JSON.parse(m.value)).toMatchObject({ codec: m.key?.split('-')[1], n: Number(m.key?.split('-')[2]) })
  })
})
