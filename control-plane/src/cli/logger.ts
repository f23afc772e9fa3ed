import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

/** Structured JSON logs on stderr; human-readable when stderr is a terminal. */
export function createLogger(level: string, name: string): Logger {
  if (process.stderr.isTTY) {
    return pino({ level, name }, pretty({ destination: 2, sync: true, colorize: true, ignore: 'pid,hostname' }));
  }
  return pino({ level, name }, pino.destination({ dest: 2, sync: true }));
}
