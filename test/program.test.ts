/**
 * The command tree: which commands a run defines (only the one it runs,
 * when that is plain), and that a run of one command answers exactly as the
 * whole tree would, for help, mistakes and global options.
 */
import { describe, expect, it } from 'vitest';
import { buildProgram, commandToRun } from '../src/cli/program.js';
import { createHarness } from './helpers/harness.js';

describe('the command tree', () => {
  it.each([
    [['token'], 'token'],
    [['--profile', 'whoami', 'token', '--json'], 'token'], // a profile named like a command is --profile's value
    [['--profile=work', '--verbose', '--no-color', 'whoami'], 'whoami'],
    [['exec', '--', 'token'], 'exec'],
    [['completion', 'bash'], undefined], // prints the whole tree
    [['token', '--help'], undefined],
    [['-h'], undefined],
    [['help', 'token'], undefined],
    [['tokn'], undefined], // suggestions need every name
    [['--version'], undefined],
    [[], undefined],
  ])('%j runs %s alone', (argv, expected) => {
    expect(commandToRun(argv)).toBe(expected);
  });

  it('defines only the command it runs, and every command otherwise', () => {
    const deps = {} as Parameters<typeof buildProgram>[0]; // the tree's shape reads no Deps
    expect(buildProgram(deps, undefined, 'token').commands.map((command) => command.name())).toEqual(['token']);
    expect(buildProgram(deps).commands.map((command) => command.name())).toEqual(['login', 'whoami', 'token', 'exec', 'api', 'git-credential', 'kube-credential', 'logout', 'revoke', 'sessions', 'audit', 'vault', 'completion']);
  });

  it('answers a mistake, help and global options as the whole tree does', async () => {
    const h = await createHarness();
    const unknownOption = await h.run(['token', '--bogus']);
    expect(unknownOption.code).toBe(2);
    expect(unknownOption.stderr).toBe('devlogin: unknown option \'--bogus\' (see devlogin --help)\n');
    const extra = await h.run(['whoami', 'extra']);
    expect(extra.code).toBe(2);
    expect(extra.stderr).toMatch(/^devlogin: too many arguments for 'whoami'\. Expected 0 arguments but got 1\. \(see devlogin --help\)\n$/);
    const profile = await h.run(['--profile', 'work', 'whoami']);
    expect(profile.code).toBe(3);
    expect(profile.stderr).toContain('(profile "work")');
    const help = await h.run(['--help', 'token']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('\n  login [options] ');
    expect(help.stdout).toContain('\n  completion [options] [shell] ');
  });
});
