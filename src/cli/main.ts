#!/usr/bin/env node
/**
 * The `flagstone` command. One file per command; exit codes in exit-codes.ts (docs/cli.md).
 */
import { Command, CommanderError } from 'commander'
import { benchCommand } from './bench.js'
import { evaluateCommand } from './evaluate.js'
import { EXIT } from './exit-codes.js'
import { flagsCommand } from './flags.js'
import { serveCommand } from './serve.js'
import { exportCommand, importCommand } from './state.js'
import { VERSION } from './version.js'

export function program(): Command {
  const root = new Command('flagstone')
    .description(
      'flagstone: feature flags and namespaced stores — the server, flag administration, state files and store benchmarks',
    )
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .addCommand(serveCommand())
    .addCommand(flagsCommand())
    .addCommand(evaluateCommand())
    .addCommand(exportCommand())
    .addCommand(importCommand())
    .addCommand(benchCommand())
  // Usage errors exit 2 (commander's default is 1), everywhere in the tree.
  const exitOverride = (command: Command) => {
    command.exitOverride()
    command.commands.forEach(exitOverride)
  }
  exitOverride(root)
  return root
}

try {
  await program().parseAsync(process.argv)
} catch (error) {
  if (error instanceof CommanderError) {
    const ok = error.exitCode === 0 || error.code === 'commander.helpDisplayed' || error.code === 'commander.version'
    process.exitCode = ok ? EXIT.OK : EXIT.USAGE
  } else {
    process.stderr.write(`flagstone: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exitCode = EXIT.FAILURE
  }
}
