import type { Logger } from 'pino'

/** The handler `guardStartup` put on SIGTERM and SIGINT, until `shutdownOnSignals` replaces it. */
let whileStarting: ((signal: NodeJS.Signals) => void) | undefined

/**
 * The first thing a service's `main` does once it has its logger. Until `shutdownOnSignals` takes over, a
 * signal ends the process at once, exit 0: the service is still connecting or creating topics and indices,
 * and has taken nothing on (before, Node's default ended it with 143 and no word). And an error nothing
 * catches (a dependency down at start, where `main` awaits it) is logged as JSON, fatal, before the process
 * exits 1, rather than printed as a bare stack.
 */
export function guardStartup(logger: Logger): void {
  whileStarting = (signal) => {
    logger.info({ signal }, 'signal while starting: exiting')
    process.exit(0)
  }
  process.on('SIGTERM', whileStarting)
  process.on('SIGINT', whileStarting)
  process.on('uncaughtException', (err, origin) => {
    logger.fatal({ err, origin }, 'uncaught error: exiting')
    process.exit(1)
  })
}

/**
 * Graceful shutdown on SIGTERM and SIGINT: `stop` runs once, then the process exits 0, or 1 when stopping
 * failed. `stop` is where a service stops taking work, finishes what it holds and closes its clients. A
 * second signal while it stops exits at once, 1: an operator's way out of a stop that hangs, short of SIGKILL.
 */
export function shutdownOnSignals(logger: Logger, what: string, stop: () => Promise<void>): void {
  if (whileStarting) {
    process.off('SIGTERM', whileStarting)
    process.off('SIGINT', whileStarting)
    whileStarting = undefined
  }
  let stopping = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal while shutting down: exiting now, without finishing')
      process.exit(1)
    }
    stopping = true
    logger.info({ signal }, `shutting down: ${what}`)
    stop().then(
      () => { logger.info('stopped'); process.exit(0) },
      (err: unknown) => { logger.error({ err }, 'shutdown failed'); process.exit(1) },
    )
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
}
