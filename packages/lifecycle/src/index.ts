import type { Logger } from 'pino'

/**
 * Graceful shutdown on SIGTERM and SIGINT: `stop` runs once (a second signal does not restart it), then
 * the process exits 0, or 1 when stopping failed. `stop` is where a service stops taking work, finishes
 * what it holds and closes its clients.
 */
export function shutdownOnSignals(logger: Logger, what: string, stop: () => Promise<void>): void {
  let stopping = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return
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
