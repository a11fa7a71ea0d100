import { envName, withEnvFlags } from './env-flags.js';

const options = {
  listen: { type: 'string', multiple: true },
  'drain-delay': { type: 'string' },
  verbose: { type: 'boolean', short: 'v' },
  'postgres-url': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

describe('withEnvFlags', () => {
  it('names variables SAFESQUID_<FLAG>', () => {
    expect(envName('drain-delay')).toBe('SAFESQUID_DRAIN_DELAY');
  });

  it('puts flags set only in the environment in front; the command line wins', () => {
    const env = {
      SAFESQUID_DRAIN_DELAY: '5000',
      SAFESQUID_LISTEN: '0.0.0.0:3128, [::]:3128',
      SAFESQUID_VERBOSE: 'true',
      SAFESQUID_HELP: '1',
    };
    expect(withEnvFlags(['--name', 'x'], options, env)).toEqual([
      '--listen=0.0.0.0:3128',
      '--listen=[::]:3128',
      '--drain-delay=5000',
      '--verbose',
      '--name',
      'x',
    ]);
    expect(withEnvFlags(['--drain-delay=1', '-v', '--listen', ':1'], options, env)).toEqual([
      '--drain-delay=1',
      '-v',
      '--listen',
      ':1',
    ]);
  });

  it('leaves out flags that may carry secrets, empty variables and false booleans', () => {
    expect(
      withEnvFlags(
        [],
        options,
        { SAFESQUID_POSTGRES_URL: 'postgres://u:pw@h/db', SAFESQUID_DRAIN_DELAY: '', SAFESQUID_VERBOSE: 'false' },
        ['postgres-url'],
      ),
    ).toEqual([]);
  });

  it('names the variable when a boolean is neither true nor false', () => {
    expect(() => withEnvFlags([], options, { SAFESQUID_VERBOSE: 'maybe' })).toThrow(
      'SAFESQUID_VERBOSE: expected true or false, got "maybe"',
    );
  });
});
