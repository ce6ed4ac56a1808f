/**
 * Structured JSON logging (pino), one line per notable event, never per request by default.
 * Thread: main. L0.
 */
import { pino, type Logger } from 'pino'

export type { Logger }

/** A logger at `level` writing JSON lines to stdout (`silent` disables it). */
export function createLogger (level: string): Logger {
  return pino({ level, base: { service: 'slabcache' } })
}
