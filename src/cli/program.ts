import { Command, Option } from 'commander';
import type { IO } from '../io.js';
import { createContext, type GlobalOptions } from './context.js';

export interface ProgramDeps {
  io: IO;
  signal: AbortSignal;
  version: string;
}

/**
 * The command definitions: flags, help and the lazily loaded module that
 * runs each command. Completions are generated from this same tree.
 */
export function buildProgram({ io, signal, version }: ProgramDeps): Command {
  const program = new Command('devlogin')
    .description('Sign in with the OAuth 2.0 device flow and use the session from scripts and CI.')
    .version(version, '--version', 'print the version')
    .option('--profile <name>', 'profile to use (default: $DEVLOGIN_PROFILE or "default")')
    .option('--verbose', 'log each HTTP exchange (secrets redacted) and full errors')
    .option('--no-color', 'no colour on stderr')
    .helpOption('-h, --help', 'show help')
    .showSuggestionAfterError(true)
    // Set before the commands are added so that they inherit it: commander
    // errors come back as exceptions and main prints them as one line.
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: () => undefined,
    });

  const context = (command: Command) => createContext(io, command.optsWithGlobals<GlobalOptions>(), signal);

  program.command('login')
    .description('sign in with the device flow and store the session')
    .option('--issuer <url>', 'OpenID Connect issuer URL (env DEVLOGIN_ISSUER)')
    .option('--client-id <id>', 'OAuth client id (env DEVLOGIN_CLIENT_ID)')
    .option('--scope <scopes>', 'space-separated scopes (env DEVLOGIN_SCOPE)')
    .option('--audience <aud>', 'audience to request the token for')
    .option('--max-session <duration>', 'maximum session lifetime, e.g. 30m, 8h (default 1h, at most 12h)')
    .option('--no-browser', 'do not open a browser')
    .option('--no-qr', 'do not print a QR code')
    .option('--json', 'NDJSON events on stdout')
    .action(async (flags: Record<string, unknown>, command: Command) => {
      const { parseLoginOptions, runLogin } = await import('./login.js');
      await runLogin(parseLoginOptions(flags), context(command));
    });

  return program;
}

/** Names of commands and their long flags, for completions. */
export function describeCommands(program: Command): { name: string; flags: string[] }[] {
  return program.commands.map((command) => ({
    name: command.name(),
    flags: command.options.map((option: Option) => option.long ?? '').filter(Boolean),
  }));
}
