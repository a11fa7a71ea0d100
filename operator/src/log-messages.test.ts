import { OPERATOR_LOG } from './log-messages.js';

// The pin: changing one of these is an interface change (tests, runbooks, users' log alerts).
test('log messages other programs read keep their text', () => {
  expect(OPERATOR_LOG).toEqual({ started: 'operator started', becameLeader: 'became leader' });
});
