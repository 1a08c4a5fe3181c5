import { Argument, Command, CommanderError, Option } from 'commander';
import type { Deps } from '../deps.js';
import { EXIT } from '../errors.js';
import { resolveProfile } from '../core/settings.js';
import { reportError } from './report.js';

/** Set by the bundler (scripts/bundle.mjs) from package.json. */
declare const DEVLOGIN_VERSION: string;
export const VERSION: string = typeof DEVLOGIN_VERSION === 'string' ? DEVLOGIN_VERSION : '0.0.0-dev';

type Flags = Record<string, unknown>;

/** Options every command accepts. */
interface GlobalFlags {
  profile?: string;
}

/**
 * Runs devlogin with these arguments and returns its exit code: what
 * main.ts does for the process, and what in-process tests do with their own
 * Deps. Every failure is reported here as one line on stderr.
 */
export async function runProgram(argv: readonly string[], deps: Deps): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = buildProgram(deps, (code) => (exitCode = code), commandToRun(argv));
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.ok;
      deps.io.stderr.write(`devlogin: ${err.message.replace(/^error: /, '')} (see devlogin --help)\n`);
      return EXIT.usage;
    }
    return reportError(deps.io, err);
  }
}

const COMMANDS = ['login', 'whoami', 'token', 'exec', 'api', 'git-credential', 'kube-credential', 'logout', 'revoke', 'sessions', 'audit', 'vault', 'completion'] as const;
type CommandName = (typeof COMMANDS)[number];

/**
 * The one command these arguments run, when that is plain: the first word
 * that is not an option (nor --profile's value), if it names a command other
 * than completion (which prints the whole tree) and no help is asked for. The
 * program then defines only that command: whoami and token, which scripts
 * call in loops, do not build the other eleven.
 */
export function commandToRun(argv: readonly string[]): CommandName | undefined {
  if (argv.some((arg) => arg === '-h' || arg === '--help')) return undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return undefined;
    if (arg === '--profile') i += 1;
    else if (!arg.startsWith('-')) return arg !== 'completion' && (COMMANDS as readonly string[]).includes(arg) ? arg as CommandName : undefined;
  }
  return undefined;
}

/**
 * The command definitions: flags, help and the lazily loaded module that
 * runs each command (so `whoami` never loads the login, QR or browser code).
 * Completions are generated from this same tree. With `only`, the other
 * commands are left out (see commandToRun).
 */
export function buildProgram(deps: Deps, setExitCode: (code: number) => void = () => undefined, only?: CommandName): Command {
  const { io } = deps;
  const wanted = (name: CommandName): boolean => only === undefined || only === name;
  const program = new Command('devlogin')
    .description('Sign in with the OAuth 2.0 device flow and use the session from scripts and CI.')
    .version(VERSION, '--version', 'print the version')
    .option('--profile <name>', 'profile to use (default: $DEVLOGIN_PROFILE or "default")')
    .option('--verbose', 'log each HTTP exchange (secrets redacted) and full errors')
    .option('--no-color', 'no colour on stderr')
    .helpOption('-h, --help', 'show help')
    .showSuggestionAfterError(true)
    // Set before the commands are added so that they inherit it: commander
    // errors come back as exceptions and runProgram prints them as one line.
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: () => undefined,
    });

  const profileOf = (command: Command): string => resolveProfile(command.optsWithGlobals<GlobalFlags>().profile, deps.env);
  const json = new Option('--json', 'one JSON document per line on stdout');
  const minTtl = new Option('--min-ttl <duration>', 'refresh first if the token expires within this (default 60s)');
  const narrowScope = new Option('--scope <scopes>', 'a token limited to these of the session\'s scopes, for this use only');
  const narrowAudience = new Option('--audience <uri>', 'with --scope: the resource the token is for (RFC 8707)');

  if (wanted('login')) program.command('login')
    .description('sign in with the device flow and store the session')
    .option('--provider <name>', 'provider preset: github, google, entra, okta, auth0, keycloak, gitlab, dex or generic (env DEVLOGIN_PROVIDER)')
    .option('--issuer <url>', 'OpenID Connect issuer URL (env DEVLOGIN_ISSUER)')
    .option('--client-id <id>', 'OAuth client id (env DEVLOGIN_CLIENT_ID)')
    .option('--scope <scopes>', 'space-separated scopes (env DEVLOGIN_SCOPE)')
    .option('--audience <aud>', 'audience to request the token for')
    .option('--max-session <duration>', 'maximum session lifetime, e.g. 30m, 8h (default 1h, at most 12h)')
    .option('--no-browser', 'do not open a browser')
    .option('--no-qr', 'do not print a QR code')
    .option('--dpop', 'bind the tokens to a DPoP key (RFC 9449; saved in the profile); fail if the provider cannot')
    .option('--no-dpop', 'do not bind the tokens (clears a saved --dpop)')
    .addOption(json)
    .action(async (flags: Flags, command: Command) => {
      const { parseLoginOptions, runLogin } = await import('./login.js');
      await runLogin(parseLoginOptions(profileOf(command), flags), deps);
    });

  if (wanted('whoami')) program.command('whoami')
    .description('say who is signed in (exit 0 signed in, 3 not signed in, 4 ended)')
    .option('--online', 'ask the provider whether the session is still valid')
    .addOption(json)
    .action(async (flags: Flags, command: Command) => {
      const { parseWhoamiOptions, runWhoami } = await import('./whoami.js');
      await runWhoami(parseWhoamiOptions(profileOf(command), flags), deps);
    });

  if (wanted('token')) program.command('token')
    .description('print a valid access token on stdout, refreshing it when needed')
    .addOption(minTtl)
    .addOption(narrowScope)
    .addOption(narrowAudience)
    .addOption(json)
    .action(async (flags: Flags, command: Command) => {
      const { parseTokenOptions, runToken } = await import('./token.js');
      await runToken(parseTokenOptions(profileOf(command), flags), deps);
    });

  if (wanted('exec')) program.command('exec')
    .description('run a command with DEVLOGIN_ACCESS_TOKEN in its environment')
    .usage('[--min-ttl DURATION] [--scope "S1 S2"] [--end-session] -- COMMAND [ARGS...]')
    .addOption(minTtl)
    .addOption(narrowScope)
    .addOption(narrowAudience)
    .option('--end-session', 'end the session when the command ends (revoked at the provider, else removed here)')
    .argument('[command...]', 'the command to run, after --')
    .action(async (argv: string[], flags: Flags, command: Command) => {
      const { parseExecOptions, runExec } = await import('./exec.js');
      setExitCode(await runExec(parseExecOptions(profileOf(command), argv, flags), deps));
    });

  if (wanted('api')) program.command('api')
    .description('make an authenticated request (with a DPoP proof when bound); body on stdout')
    .usage('[-X METHOD] [-H "K: V"]... [-d DATA|@file|@-] [--allow-host H] URL')
    .argument('[url]', 'the URL to call (HTTPS, or http on loopback)')
    .option('-X, --method <method>', 'HTTP method (default GET, or POST with -d)')
    .option('-H, --header <header>', 'a request header "Name: value" (repeatable)', (value: string, previous: string[] = []) => [...previous, value])
    .option('-d, --data <data>', 'request body, @file to read a file, @- for stdin')
    .option('--allow-host <host>', 'send the token to this host although it is neither the issuer\'s site nor in apiHosts (audited)')
    .addOption(minTtl)
    .addOption(narrowScope)
    .addOption(narrowAudience)
    .action(async (url: string | undefined, flags: Flags, command: Command) => {
      const { parseApiOptions, runApi } = await import('./api.js');
      await runApi(parseApiOptions(profileOf(command), url, flags), deps);
    });

  if (wanted('git-credential')) program.command('git-credential')
    .description('git\'s credential helper: the session\'s token for its own site\'s git hosts (store and erase write nothing)')
    .usage('[get|store|erase]')
    .argument('[operation]', 'get, store or erase, as git runs it')
    .action(async (operation: string | undefined, _flags: Flags, command: Command) => {
      const { parseGitCredentialOptions, runGitCredential } = await import('./git-credential.js');
      await runGitCredential(parseGitCredentialOptions(profileOf(command), operation), deps);
    });

  if (wanted('kube-credential')) program.command('kube-credential')
    .description('kubectl\'s exec credential plugin: an ExecCredential (v1) with the ID token on stdout')
    .option('--access-token', 'send the access token instead of the ID token')
    .action(async (flags: Flags, command: Command) => {
      const { parseKubeCredentialOptions, runKubeCredential } = await import('./kube-credential.js');
      await runKubeCredential(parseKubeCredentialOptions(profileOf(command), flags), deps);
    });

  if (wanted('logout')) program.command('logout')
    .description('end the session here (revoking it at the provider, best effort)')
    .option('--all', 'every profile')
    .option('--local', 'do not contact the provider')
    .action(async (flags: Flags, command: Command) => {
      const { parseLogoutOptions, runLogout } = await import('./logout.js');
      await runLogout(parseLogoutOptions(profileOf(command), flags), deps);
    });

  if (wanted('revoke')) program.command('revoke')
    .description('revoke the session at the provider, then end it here (exit 7 if the provider could not be told)')
    .option('--all', 'every profile')
    .action(async (flags: Flags, command: Command) => {
      const { parseRevokeOptions, runRevoke } = await import('./revoke.js');
      await runRevoke(parseRevokeOptions(profileOf(command), flags), deps);
    });

  if (wanted('sessions')) program.command('sessions')
    .description('list profiles with their state and expiries (unlocks nothing)')
    .addOption(json)
    .action(async (flags: Flags) => {
      const { parseSessionsOptions, runSessions } = await import('./sessions.js');
      await runSessions(parseSessionsOptions(flags), deps);
    });

  if (wanted('audit')) program.command('audit')
    .description('show the local audit log, newest last')
    .option('--limit <n>', 'how many events (default 20)')
    .addOption(json)
    .action(async (flags: Flags) => {
      const { parseAuditOptions, runAudit } = await import('./audit.js');
      await runAudit(parseAuditOptions(flags), deps);
    });

  if (wanted('vault')) program.command('vault')
    .description('new-key: print a new random key for DEVLOGIN_VAULT_KEY (the key vault, for CI)')
    .addArgument(new Argument('<action>', 'new-key').choices(['new-key']))
    .action(async () => {
      const { runVaultNewKey } = await import('./vault.js');
      runVaultNewKey(deps);
    });

  if (wanted('completion')) program.command('completion')
    .description('print the shell completion script (bash, zsh or fish)')
    .argument('[shell]', 'bash, zsh or fish')
    .addOption(new Option('--profiles', 'print profile names').hideHelp())
    .action(async (shell: string | undefined, flags: Flags) => {
      const { parseCompletionOptions, runCompletion } = await import('./completion.js');
      await runCompletion(parseCompletionOptions(shell, flags), deps, program);
    });

  return program;
}
