import pino, { type Logger, type LoggerOptions } from 'pino'

export type { Logger }

/**
 * The one root logger of a service. Children bind context (reqId, topic/partition). Credentials are
 * redacted wherever they appear, and request bodies are never logged.
 */
export function createLogger(service: string, level: string, destination?: pino.DestinationStream): Logger {
  const options: LoggerOptions = {
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['req.headers.authorization', 'headers.authorization', 'authorization', 'token', '*.token', 'req.query.token'], censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
  }
  return destination ? pino(options, destination) : pino(options)
}
