/** What every command prints: human text on a terminal or a pipe, one JSON document with `--json`. */
import { isFlagstoneError } from '../errors.js'
import { CliError, exitCodeFor } from './exit-codes.js'

export interface OutputOptions {
  json?: boolean
}

/** Writes `value` as JSON (`--json`), else `human()`'s text. */
export function emit(options: OutputOptions, value: unknown, human: () => string): void {
  process.stdout.write(options.json === true ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`)
}

/** A fixed-width table: the first row is the header. */
export function table(rows: ReadonlyArray<ReadonlyArray<string>>): string {
  const widths: number[] = []
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)))
  return rows
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '))
    .join('\n')
}

/** Reports `error` (a line on stderr, or `{ error: { code, message, details } }` on stdout with `--json`) and sets the exit code. */
export function report(error: unknown, options: OutputOptions): void {
  const code = error instanceof CliError || isFlagstoneError(error) ? error.code : 'FAILURE'
  const message = error instanceof Error ? error.message : String(error)
  const details = error instanceof CliError || isFlagstoneError(error) ? (error.details ?? {}) : {}
  if (options.json === true) process.stdout.write(`${JSON.stringify({ error: { code, message, details } }, null, 2)}\n`)
  else process.stderr.write(`flagstone: ${message}\n`)
  process.exitCode = exitCodeFor(error)
}

/** Parses a JSON command-line argument, naming the option on failure. */
export function parseJsonOption(text: string, option: string): unknown {
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new CliError(`${option}: not JSON (${error instanceof Error ? error.message : String(error)})`, 2, 'INVALID_ARGUMENT', {
      field: option,
    })
  }
}
