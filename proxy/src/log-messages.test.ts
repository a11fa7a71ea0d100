import { LOG } from './log-messages.js';

// The pin: these texts are read by tests, runbooks and users' log alerts. A change here is an
// interface change: say it in the release notes and update docs/runbooks.md.
test('log messages other programs read keep their text', () => {
  expect(LOG).toEqual({
    slaveStarted: 'slave started',
    workerStarted: 'worker started',
    portalListening: 'Configuration Portal listening',
    portalRequestRefused: 'portal request refused',
    policyFileRefused: 'refused the new policy file; the policy in force stays',
    proxyUsersRefused: 'proxy users file refused; keeping the previous users',
    policyConfigMapRefused: 'policy ConfigMap does not load; keeping the previous policy',
  });
});
