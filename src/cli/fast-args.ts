// The argument lists the fast path (fast-path.ts) answers. Apart from it, so
// that the entry point can tell without loading the vault, crypto or sockets.

export interface FastRequest {
  command: 'whoami' | 'token';
  profile: string | undefined;
  json: boolean;
  /** token --min-ttl, as given. */
  minTtl: string | undefined;
  noColor: boolean;
}

/**
 * The argument lists answered here: `whoami [--json]` and
 * `token [--json] [--min-ttl D]`, with `--profile NAME` and `--no-color`
 * before or after the command (commander accepts global options in both
 * places). Anything else is undefined and left to commander: --help,
 * --verbose, --online, a repeated flag, `--`, a value that looks like a flag.
 */
export function parseFastRequest(argv: readonly string[]): FastRequest | undefined {
  let command: FastRequest['command'] | undefined;
  let profile: string | undefined;
  let minTtl: string | undefined;
  let json = false;
  let noColor = false;
  const seen = new Set<string>();
  for (let index = 0; index < argv.length; index += 1) {
    const arg = argv[index]!;
    if (!arg.startsWith('-')) {
      if (command !== undefined || (arg !== 'whoami' && arg !== 'token')) return undefined;
      command = arg;
      continue;
    }
    const equals = arg.indexOf('=');
    const name = equals === -1 ? arg : arg.slice(0, equals);
    if (seen.has(name)) return undefined;
    seen.add(name);
    if (name === '--profile' || (name === '--min-ttl' && command === 'token')) {
      const value = equals === -1 ? argv[(index += 1)] : arg.slice(equals + 1);
      if (value === undefined || value === '' || value.startsWith('-')) return undefined;
      if (name === '--profile') profile = value;
      else minTtl = value;
    } else if (equals !== -1) {
      return undefined;
    } else if (name === '--json' && command !== undefined) {
      json = true;
    } else if (name === '--no-color') {
      noColor = true;
    } else {
      return undefined;
    }
  }
  return command === undefined ? undefined : { command, profile, json, minTtl, noColor };
}
