// `pnpm opsreview <command>`: the operator's commands. Wires config and clients; the work is in packages:
// reindex is rebuildFromKafka (@opsreview/search-index), dead-letters is @opsreview/dead-letters.
import { Client } from '@elastic/elasticsearch'
import { Kafka, logLevel } from 'kafkajs'
import pino from 'pino'
import { field, readConfig } from '@opsreview/config'
import { createLogger } from '@opsreview/logging'
import { defaultTopics } from '@opsreview/kafka/topics'
import { rebuildFromKafka } from '@opsreview/search-index/rebuild'
import { DEAD_LETTERS_USAGE, listCommand, parseDeadLettersArgs, replayCommand } from '@opsreview/dead-letters'
import { loadIndexerConfig } from './config.ts'

const USAGE = `usage: opsreview <command>
  reindex        Rebuilds alerts, incidents and problems in Elasticsearch from the Kafka topics, then moves the aliases.
  dead-letters   Counts dead letters by topic and reason; \`dead-letters replay\` puts them back after a fix.

${DEAD_LETTERS_USAGE}`

/** Every variable `opsreview dead-letters` reads. docs/dead-letters.md mirrors this. */
const deadLettersConfigSpec = {
  OPSREVIEW_KAFKA_BROKERS: field.list('Kafka bootstrap brokers', ['127.0.0.1:9092'], { minItems: 1 }),
  OPSREVIEW_TOPIC_REJECTED: field.string('dead-letter topic of the receiver', defaultTopics.rejected),
  OPSREVIEW_TOPIC_INDEXER_DEAD_LETTER: field.string('dead-letter topic of the indexer', defaultTopics.indexerDeadLetter),
  OPSREVIEW_TOPIC_CORRELATOR_DEAD_LETTER: field.string('dead-letter topic of the correlator', 'opsreview.correlator.dead-letter.v1'),
  OPSREVIEW_DEAD_LETTER_TOPICS: field.list('every dead-letter topic to read, comma-separated (default: the three above)', []),
  OPSREVIEW_RECEIVER_URL: field.url('receiver that webhook dead letters are replayed through', 'http://127.0.0.1:8080'),
  OPSREVIEW_INGEST_TOKENS: field.list('ingest tokens; the first authenticates webhook replays', []),
  OPSREVIEW_DEAD_LETTERS_READ_TIMEOUT: field.duration('how long reading up to the end offsets may take', 60_000),
  OPSREVIEW_LOG_LEVEL: field.oneOf('pino log level', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'warn'),
}

const [command, ...rest] = process.argv.slice(2)

if (command === 'reindex') {
  const config = loadIndexerConfig(process.env)
  const logger = createLogger('reindex', config.OPSREVIEW_LOG_LEVEL)
  const es = new Client({ node: config.OPSREVIEW_ES_URL, requestTimeout: 60_000 })
  const kafka = new Kafka({ clientId: 'opsreview-reindex', brokers: config.OPSREVIEW_KAFKA_BROKERS, logLevel: logLevel.ERROR })
  const started = Date.now()
  const result = await rebuildFromKafka({
    kafka, es, prefix: config.OPSREVIEW_ES_INDEX_PREFIX, logger,
    topics: { alerts: config.OPSREVIEW_TOPIC_ALERTS, incidents: config.OPSREVIEW_TOPIC_INCIDENTS, problems: config.OPSREVIEW_TOPIC_PROBLEMS },
  })
  logger.info({ ...result, seconds: Math.round((Date.now() - started) / 100) / 10 }, 'rebuild complete')
  await es.close()
} else if (command === 'dead-letters') {
  process.exitCode = await deadLetters(rest)
} else {
  process.stderr.write(USAGE)
  process.exit(command === undefined || command === 'help' || command === '--help' ? 0 : 64)
}

async function deadLetters(argv: string[]): Promise<number> {
  const args = parseDeadLettersArgs(argv, Date.now())
  const config = readConfig(deadLettersConfigSpec, process.env)
  if (!args.ok || !config.ok) {
    const errors = [...(args.ok ? [] : args.errors), ...(config.ok ? [] : config.errors)]
    process.stderr.write(`opsreview dead-letters:\n${errors.map((e) => `  - ${e}`).join('\n')}\n\n${DEAD_LETTERS_USAGE}`)
    return args.ok ? 78 : 64
  }
  const cmd = args.value
  if (cmd.command === 'help') {
    process.stdout.write(DEAD_LETTERS_USAGE)
    return 0
  }
  const c = config.value
  // Logs to stderr, so `--json` output on stdout stays parseable.
  const logger = createLogger('dead-letters', c.OPSREVIEW_LOG_LEVEL, pino.destination(2))
  const kafka = new Kafka({ clientId: 'opsreview-dead-letters', brokers: c.OPSREVIEW_KAFKA_BROKERS, logLevel: logLevel.NOTHING, retry: { retries: 3 } })
  const topics = c.OPSREVIEW_DEAD_LETTER_TOPICS.length > 0
    ? c.OPSREVIEW_DEAD_LETTER_TOPICS
    : [c.OPSREVIEW_TOPIC_REJECTED, c.OPSREVIEW_TOPIC_INDEXER_DEAD_LETTER, c.OPSREVIEW_TOPIC_CORRELATOR_DEAD_LETTER]
  const deps = { kafka, logger, topics, readTimeoutMs: c.OPSREVIEW_DEAD_LETTERS_READ_TIMEOUT }
  try {
    const result = cmd.command === 'list'
      ? await listCommand(cmd, deps)
      : await replayCommand(cmd, { ...deps, receiverUrl: c.OPSREVIEW_RECEIVER_URL, ingestToken: c.OPSREVIEW_INGEST_TOKENS[0] })
    process.stdout.write(cmd.json ? `${JSON.stringify(result.json, null, 2)}\n` : result.text)
    return result.exitCode
  } catch (err) {
    const e = err as Error & { retriable?: boolean }
    process.stderr.write(`opsreview dead-letters: ${e.message}\n`)
    // 69 (EX_UNAVAILABLE): Kafka was unavailable, try again; 70 (EX_SOFTWARE): anything else.
    return e.retriable ? 69 : 70
  }
}
