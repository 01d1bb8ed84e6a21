import { logLevel, type logCreator } from 'kafkajs'
import type { Logger } from 'pino'

const levels: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
}

/** Routes kafkajs's own logs into pino, tagged `component: 'kafkajs'` and their namespace: pass a logger that binds no `component` of its own, or each line carries the key twice. */
export function pinoLogCreator(root: Logger): logCreator {
  return () => ({ namespace, level, log }) => {
    const { message, timestamp: _ts, logger: _l, ...rest } = log
    root[levels[level] ?? 'info']({ component: 'kafkajs', namespace, ...rest }, message)
  }
}

/** The kafkajs level that matches a pino level, so kafkajs does not format logs pino drops. */
export function kafkaLogLevel(pinoLevel: string): logLevel {
  switch (pinoLevel) {
    case 'trace': case 'debug': return logLevel.DEBUG
    case 'info': return logLevel.INFO
    case 'warn': return logLevel.WARN
    default: return logLevel.ERROR
  }
}
