// `pnpm opsreview <command>`: the operator's commands. Wires config and clients; the work is in packages:
// reindex is rebuildFromKafka (@opsreview/search-index), dead-letters is @opsreview/dead-letters, replay is
// @opsreview/replay.
import { constants } from 'node:os'
import path from 'node:path'
import { Client, errors as esErrors } from '@elastic/elasticsearch'
import { Kafka, logLevel } from 'kafkajs'
import pino from 'pino'
import { field, kafkaConnectionSpec, readConfig } from '@opsreview/config'
import { createLogger } from '@opsreview/logging'
import { defaultTopics } from '@opsreview/kafka/topics'
import { kafkaConnectionOptions } from '@opsreview/kafka/connection'
import { elasticsearchConnectionOptions } from '@opsreview/search-index/connection'
import { rebuildFromKafka } from '@opsreview/search-index/rebuild'
import { DEAD_LETTERS_USAGE, listCommand, parseDeadLettersArgs, replayCommand } from '@opsreview/dead-letters'
import { parseReplayArgs, REPLAY_USAGE } from '@opsreview/replay/args'
import { dropDataset, listDatasets } from '@opsreview/replay/dataset'
import { renderReport } from '@opsreview/replay/report'
import type { LoadedRules } from '@opsreview/replay/rules'
import { overriddenConfigOf, setOverrides } from '@opsreview/correlation/settings'
import { whatIf } from '@opsreview/replay/what-if'
import { degradedRuleOf } from '@opsreview/review/degraded'
import { describeRetention, runRetention } from '@opsreview/search-index/retention'
import { leaseHolderName, RetentionScheduler } from '@opsreview/search-index/retention-scheduler'
import { loadIndexerConfig, retentionSettingsOf } from './config.ts'
import { failureExitCode } from './exit-codes.ts'
import { replayConfigSpec } from './replay-config.ts'

const USAGE = `usage: opsreview <command>
  reindex        Rebuilds alerts, incidents and problems in Elasticsearch from the Kafka topics, then moves the aliases.
  replay         What-if: runs the correlation engine over the retained input with another configuration and
                 reports against the live incidents and problems (\`opsreview replay --help\`).
  dead-letters   Counts dead letters by topic and reason; \`dead-letters replay\` puts them back after a fix.
  retention [--dry-run] [--json]
                 Deletes old alert months, incidents and problems now, as the indexer's schedule does (docs/retention.md);
                 --dry-run says what it would delete. Exits 75 while an indexer is running retention.

${DEAD_LETTERS_USAGE}`

/** Every variable `opsreview dead-letters` reads. docs/dead-letters.md mirrors this. */
const deadLettersConfigSpec = {
  OPSREVIEW_KAFKA_BROKERS: field.brokers('Kafka bootstrap brokers', ['127.0.0.1:9092']),
  ...kafkaConnectionSpec,
  OPSREVIEW_TOPIC_REJECTED: field.topic('dead-letter topic of the receiver', defaultTopics.rejected),
  OPSREVIEW_TOPIC_INDEXER_DEAD_LETTER: field.topic('dead-letter topic of the indexer', defaultTopics.indexerDeadLetter),
  OPSREVIEW_TOPIC_CORRELATOR_DEAD_LETTER: field.topic('dead-letter topic of the correlator', 'opsreview.correlator.dead-letter.v1'),
  OPSREVIEW_DEAD_LETTER_TOPICS: field.list('every dead-letter topic to read, comma-separated (default: the three above)', []),
  OPSREVIEW_RECEIVER_URL: field.url('receiver that webhook dead letters are replayed through', 'http://127.0.0.1:8080'),
  OPSREVIEW_INGEST_TOKENS: field.list('ingest tokens; the first authenticates webhook replays', []),
  OPSREVIEW_DEAD_LETTERS_READ_TIMEOUT: field.duration('how long reading up to the end offsets may take', 60_000),
  OPSREVIEW_LOG_LEVEL: field.oneOf('pino log level', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'warn'),
}

const [command, ...rest] = process.argv.slice(2)

if (command === 'reindex' && rest.length > 0) {
  // A rebuild replaces the live indices: an argument it takes none of (`--help`, a `--dry-run` that only
  // retention has) ran one all the same.
  const help = asksForHelp(rest)
  if (help) process.stdout.write(USAGE)
  else process.stderr.write(`opsreview reindex: unknown argument(s) ${rest.join(' ')}\n\n${USAGE}`)
  process.exitCode = help ? 0 : 64
} else if (command === 'reindex') {
  process.exitCode = await reindex()
} else if (command === 'dead-letters') {
  process.exitCode = await deadLetters(rest)
} else if (command === 'replay') {
  process.exitCode = await replay(rest)
} else if (command === 'retention') {
  process.exitCode = await retention(rest)
} else {
  process.stderr.write(USAGE)
  process.exit(command === undefined || command === 'help' || command === '--help' ? 0 : 64)
}

/** `--help` or `-h` alone. */
function asksForHelp(argv: readonly string[]): boolean {
  return argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h')
}

/**
 * Ctrl-C or SIGTERM while `listen`ing aborts `signal` and calls `stop` once, and keeps the signal (`by`); a
 * second signal finds no handler and kills the command at once. `exitCode`: 128 + the signal's number, as a
 * shell reports a process the signal killed (130 for SIGINT, 143 for SIGTERM).
 */
function interruptible(stop?: () => void) {
  let by: NodeJS.Signals | undefined
  const interruption = new AbortController()
  const off = () => { process.off('SIGINT', onSignal).off('SIGTERM', onSignal) }
  const onSignal = (signal: NodeJS.Signals) => { by = signal; off(); interruption.abort(); stop?.() }
  return {
    listen: () => { process.on('SIGINT', onSignal).on('SIGTERM', onSignal) },
    off,
    signal: interruption.signal,
    get by() { return by },
    exitCode: () => 128 + constants.signals[by!],
  }
}

async function reindex(): Promise<number> {
  const config = loadIndexerConfig(process.env)
  const logger = createLogger('reindex', config.OPSREVIEW_LOG_LEVEL)
  const es = new Client({ ...elasticsearchConnectionOptions(config), requestTimeout: 60_000 })
  const kafka = new Kafka({ clientId: 'opsreview-reindex', ...kafkaConnectionOptions(config), logLevel: logLevel.ERROR })
  const started = Date.now()
  // Ctrl-C or SIGTERM cancels the rebuild, its fresh indices deleted and the aliases left where they were:
  // killed, the command left a whole generation beside the live one that no alias read and nothing deleted.
  // Once the aliases move it finishes instead (rebuildFromKafka). A second signal kills it at once.
  const interrupt = interruptible()
  interrupt.listen()
  try {
    const result = await rebuildFromKafka({
      kafka, es, prefix: config.OPSREVIEW_ES_INDEX_PREFIX, logger, signal: interrupt.signal,
      topics: { alerts: config.OPSREVIEW_TOPIC_ALERTS, incidents: config.OPSREVIEW_TOPIC_INCIDENTS, problems: config.OPSREVIEW_TOPIC_PROBLEMS },
    })
    logger.info({ ...result, seconds: Math.round((Date.now() - started) / 100) / 10 }, 'rebuild complete')
    // The signal came once the aliases moved: the rebuild is whole, so the command succeeded.
    if (interrupt.by) process.stderr.write(`opsreview reindex: ${interrupt.by} came after the aliases had moved: the rebuild was finished\n`)
    return 0
  } catch (err) {
    // Only the cancel itself: a signal after the aliases moved is let be, and a failure after that (Kafka gone
    // in the last pass) is that failure, with its own exit code, not an interruption that left the aliases.
    if (interrupt.by && err === interrupt.signal.reason) {
      process.stderr.write(`opsreview reindex: interrupted by ${interrupt.by}: the aliases were not moved and the fresh indices deleted (the log names any that could not be)\n`)
      return interrupt.exitCode()
    }
    // One line, as the other commands say it; an unhandled rejection printed a stack trace and exited 1.
    process.stderr.write(`opsreview reindex: ${(err as Error).message}\n`)
    return failureExitCode(err)
  } finally {
    interrupt.off()
    await es.close()
  }
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
  const kafka = new Kafka({ clientId: 'opsreview-dead-letters', ...kafkaConnectionOptions(c), logLevel: logLevel.NOTHING, retry: { retries: 3 } })
  const topics = c.OPSREVIEW_DEAD_LETTER_TOPICS.length > 0
    ? c.OPSREVIEW_DEAD_LETTER_TOPICS
    : [c.OPSREVIEW_TOPIC_REJECTED, c.OPSREVIEW_TOPIC_INDEXER_DEAD_LETTER, c.OPSREVIEW_TOPIC_CORRELATOR_DEAD_LETTER]
  // Ctrl-C or SIGTERM stops the read, its reader disconnected and its consumer group deleted, or a replay
  // before its next letter: killed, the command left its group behind for the broker to expire.
  const interrupt = interruptible()
  const deps = { kafka, logger, topics, readTimeoutMs: c.OPSREVIEW_DEAD_LETTERS_READ_TIMEOUT, signal: interrupt.signal }
  interrupt.listen()
  try {
    const result = cmd.command === 'list'
      ? await listCommand(cmd, deps)
      : await replayCommand(cmd, { ...deps, receiverUrl: c.OPSREVIEW_RECEIVER_URL, ingestToken: c.OPSREVIEW_INGEST_TOKENS[0] })
    process.stdout.write(cmd.json ? `${JSON.stringify(result.json, null, 2)}\n` : result.text)
    return result.exitCode
  } catch (err) {
    if (interrupt.by) {
      process.stderr.write(`opsreview dead-letters: interrupted by ${interrupt.by}${cmd.command === 'replay' ? '; the letters replayed before it stay replayed, and replaying them again is safe' : ''}\n`)
      return interrupt.exitCode()
    }
    process.stderr.write(`opsreview dead-letters: ${(err as Error).message}\n`)
    return failureExitCode(err)
  } finally {
    interrupt.off()
  }
}

async function replay(argv: string[]): Promise<number> {
  const args = parseReplayArgs(argv, Date.now())
  const config = readConfig(replayConfigSpec, process.env)
  const cmd = args.ok ? args.value : undefined
  // The rules file is checked with the flags, so one run lists every fault. Its module is loaded only
  // when one is given.
  let rules: LoadedRules | undefined
  const errors = [...(args.ok ? [] : args.errors)]
  const configErrors = config.ok ? [] : [...config.errors]
  // Without --config, the live rules: they group, and name the events by today's rule (the built-in defaults
  // too: an event of the log named under an older rule gets its usable name, as under a file). A bad
  // --config is a flag fault (64, as every opsreview command's); a bad OPSREVIEW_GROUPING_RULES is a configuration fault (78).
  // Only a replay reads rules: --help, --list and --drop do not stop on a bad file. Read even when another
  // variable is bad (from the environment, trimmed as readConfig trims it), so that one run lists both.
  // A relative --config is the caller's (opsreview.sh runs from the repository: OPSREVIEW_CALLER_DIR); the
  // variable's, as every path of the configuration, the repository's, where the live services run.
  const flagRules = args.ok ? (cmd?.command === 'replay' ? cmd.rulesFile : undefined) : args.rulesFile
  const envValue = process.env.OPSREVIEW_GROUPING_RULES?.trim()
  const envRules = (!args.ok || cmd?.command === 'replay') && envValue ? envValue : undefined
  const rulesFile = flagRules === undefined ? envRules : path.resolve(process.env.OPSREVIEW_CALLER_DIR ?? '.', flagRules)
  if (rulesFile !== undefined) {
    const { loadRules } = await import('@opsreview/replay/rules')
    try {
      rules = loadRules(rulesFile)
    } catch (err) {
      if (flagRules !== undefined) errors.push(`--config: ${(err as Error).message}`)
      else configErrors.push(`OPSREVIEW_GROUPING_RULES ${(err as Error).message}`)
    }
  }
  if (errors.length > 0 || configErrors.length > 0 || !config.ok) {
    process.stderr.write(`opsreview replay:\n${[...errors, ...configErrors].map((e) => `  - ${e}`).join('\n')}\n\n${REPLAY_USAGE}`)
    return errors.length > 0 ? 64 : 78
  }
  if (!cmd || cmd.command === 'help') {
    process.stdout.write(REPLAY_USAGE)
    return 0
  }
  const c = config.value
  // Logs to stderr, so `--json` output on stdout stays parseable.
  const logger = createLogger('replay', c.OPSREVIEW_LOG_LEVEL, pino.destination(2))
  const es = new Client({ ...elasticsearchConnectionOptions(c), requestTimeout: 60_000 })
  // Ctrl-C or SIGTERM stops the run where it is, a dataset half written deleted, instead of killing it with
  // the dataset's indices left unaliased. A second signal finds no handler and kills it at once.
  const interrupt = interruptible()
  try {
    if (cmd.command === 'list') {
      const datasets = await listDatasets(es, c.OPSREVIEW_ES_INDEX_PREFIX)
      if (cmd.json) process.stdout.write(`${JSON.stringify(datasets, null, 2)}\n`)
      else if (datasets.length === 0) process.stdout.write('no what-if datasets\n')
      else for (const d of datasets) process.stdout.write(`${d.dataset}\t${d.incidents} incidents\t${d.problems} problems\twritten ${d.createdAt}${d.complete ? '' : '\tincomplete (a write cut short): --drop it'}\n`)
      return 0
    }
    if (cmd.command === 'drop') {
      const { indices } = await dropDataset(es, c.OPSREVIEW_ES_INDEX_PREFIX, cmd.dataset)
      process.stdout.write(`dropped what-if dataset ${cmd.dataset}: ${indices.join(', ')}\n`)
      return 0
    }
    const kafka = new Kafka({ clientId: 'opsreview-replay', ...kafkaConnectionOptions(c), logLevel: logLevel.NOTHING, retry: { retries: 3 } })
    const settings = setOverrides(c)
    interrupt.listen()
    const report = await whatIf({
      kafka, es, logger, indexPrefix: c.OPSREVIEW_ES_INDEX_PREFIX,
      topics: { alerts: c.OPSREVIEW_TOPIC_ALERTS, commands: c.OPSREVIEW_TOPIC_COMMANDS },
      fromMs: cmd.from, toMs: cmd.to,
      engineConfig: { ...overriddenConfigOf(settings), ...rules?.engineConfig },
      relabel: rules?.relabel ?? (await import('@opsreview/replay/rules')).relabelUnderDefaults,
      ...(rules ? { rules: rules.file } : {}),
      ...(cmd.warmUpMs !== undefined ? { warmUpMs: cmd.warmUpMs } : {}),
      ...(cmd.dataset !== undefined ? { dataset: cmd.dataset } : {}),
      settings, degraded: degradedRuleOf(c),
      groupId: `opsreview-replay-${Date.now().toString(36)}-${process.pid}`,
      idleTimeoutMs: c.OPSREVIEW_REPLAY_IDLE_TIMEOUT, tickIntervalMs: c.OPSREVIEW_TICK_INTERVAL, signal: interrupt.signal,
    })
    // On stderr too: with --json the report goes to a script, and a range the log no longer holds whole must not pass unseen.
    for (const w of report.warnings) process.stderr.write(`opsreview replay: warning: ${w}\n`)
    process.stdout.write(cmd.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report))
    return 0
  } catch (err) {
    if (interrupt.by) {
      process.stderr.write(`opsreview replay: interrupted by ${interrupt.by}\n`)
      return interrupt.exitCode()
    }
    const e = err as Error & { code?: string }
    if (e.code === 'LIVE_INDEX_NOT_FOUND') {
      process.stderr.write(`opsreview replay: ${e.message}; check OPSREVIEW_ES_INDEX_PREFIX (${c.OPSREVIEW_ES_INDEX_PREFIX}), or start the indexer, which creates it\n`)
      // 78 (EX_CONFIG): the live indices are not where the configuration says.
      return 78
    }
    process.stderr.write(`opsreview replay: ${e.message}\n`)
    if (e.code === 'DATASET_NOT_FOUND') return 1
    // 75 (EX_TEMPFAIL), as retention's while another run holds its lease: another replay is writing that dataset now.
    if (e.code === 'DATASET_BUSY') return 75
    return failureExitCode(e)
  } finally {
    interrupt.off()
    await es.close()
  }
}

async function retention(argv: string[]): Promise<number> {
  if (asksForHelp(argv)) {
    process.stdout.write(USAGE)
    return 0
  }
  const unknown = argv.filter((a) => a !== '--dry-run' && a !== '--json')
  if (unknown.length > 0) {
    process.stderr.write(`opsreview retention: unknown argument(s) ${unknown.join(' ')}\n\n${USAGE}`)
    return 64
  }
  const config = loadIndexerConfig(process.env)
  const logger = createLogger('retention', config.OPSREVIEW_LOG_LEVEL, pino.destination(2))
  const es = new Client({ ...elasticsearchConnectionOptions(config), requestTimeout: 60_000 })
  const print = (result: Parameters<typeof describeRetention>[0]) => process.stdout.write(argv.includes('--json') ? `${JSON.stringify(result, null, 2)}\n` : describeRetention(result))
  try {
    const settings = retentionSettingsOf(config)
    if (argv.includes('--dry-run')) {
      try {
        print(await runRetention(es, config.OPSREVIEW_ES_INDEX_PREFIX, settings, Date.now(), { dryRun: true }))
        return 0
      } catch (err) {
        // Unreachable, timed out, a 5xx or any other answer of Elasticsearch: as for a run, one line and 69.
        // Anything else is a fault of ours, and its stack says where.
        if (!(err instanceof esErrors.ElasticsearchClientError)) throw err
        process.stderr.write(`opsreview retention: ${err.message}\n`)
        return 69
      }
    }
    // The indexers' lease: never beside a run under way; after the run it spaces the indexers' next one.
    const interval = config.OPSREVIEW_RETENTION_INTERVAL
    const scheduler = new RetentionScheduler({
      es, prefix: config.OPSREVIEW_ES_INDEX_PREFIX, settings, intervalMs: interval || 3_600_000, firstDelayMs: 0,
      holder: leaseHolderName('opsreview-retention'), logger, holdAfterRun: interval > 0, takeResting: true, oneShot: true,
    })
    // Ctrl-C or SIGTERM stops the run between two requests and gives the lease back, as an indexer does at
    // shutdown: killed outright, the command left the lease marked running for an interval (an hour), in
    // which every indexer skipped retention and the next `opsreview retention` was told to wait for a run
    // no one was doing.
    const interrupt = interruptible(() => void scheduler.stop())
    interrupt.listen()
    const outcome = await scheduler.runOnce().finally(interrupt.off)
    // 'stopped' only comes from stop(), which only a signal calls.
    if (outcome.outcome === 'stopped') {
      process.stderr.write(`opsreview retention: interrupted by ${interrupt.by}; what it had not deleted yet, the next run deletes\n`)
      return interrupt.exitCode()
    }
    if (outcome.outcome === 'done') {
      print(outcome.result)
      return 0
    }
    if (outcome.outcome === 'skipped') {
      process.stderr.write(`opsreview retention: ${outcome.holder} is running retention now (lease until ${outcome.expiresAt}); try again when it is done\n`)
      return 75
    }
    process.stderr.write(`opsreview retention: ${(outcome.error as Error).message}\n`)
    // 69 (EX_UNAVAILABLE): Elasticsearch failed, try again; nothing half-done needs undoing.
    return 69
  } finally {
    await es.close()
  }
}
