// One config, several projects: `unit` runs beside the code, `e2e` drives real processes.
const swc = [
  '@swc/jest',
  {
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
  },
];
// client-node and its OIDC dependencies ship ESM only: let swc turn them into CJS for jest.
const esmOnly = ['@kubernetes/client-node', 'openid-client', 'oauth4webapi', 'jose'];
const common = {
  testEnvironment: 'node',
  transform: { '^.+\\.(t|j)sx?$': swc },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnly.join('|')})/)`],
  // Sources import with NodeNext-style `.js` suffixes; the operator imports the proxy package's
  // subpath exports, which tests take from source (its dist/ is outside the module path).
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    '^@safesquid/proxy/(policy|reports)$': '<rootDir>/proxy/src/$1/index.ts',
    '^@safesquid/proxy/log-messages$': '<rootDir>/proxy/src/log-messages.ts',
    '^@safesquid/proxy/errors$': '<rootDir>/proxy/src/errors.ts',
    '^@safesquid/operator/log-messages$': '<rootDir>/operator/src/log-messages.ts',
    '^@safesquid/proxy/backoff$': '<rootDir>/proxy/src/net/backoff.ts',
    '^@safesquid/proxy/node-flags$': '<rootDir>/proxy/src/cli/node-flags.ts',
  },
  modulePathIgnorePatterns: ['<rootDir>/.*/dist/'],
};

module.exports = {
  testTimeout: 30000,
  reporters: ['default', '<rootDir>/test/summary-reporter.cjs'],
  projects: [
    {
      ...common,
      displayName: 'unit',
      roots: ['<rootDir>/proxy/src', '<rootDir>/operator/src', '<rootDir>/bench'],
      testMatch: ['**/*.test.ts'],
    },
    {
      ...common,
      displayName: 'e2e',
      roots: ['<rootDir>/test'],
      testMatch: ['**/*.e2e.test.ts'],
    },
    {
      ...common,
      // Against a real control plane (etcd, apiserver, controller-manager, scheduler, kwok) started once
      // for the project; needs the binaries from `make kube-binaries`.
      displayName: 'cluster',
      roots: ['<rootDir>/test'],
      testMatch: ['**/*.cluster.test.ts'],
      globalSetup: '<rootDir>/test/cluster/jest-global-setup.cjs',
      globalTeardown: '<rootDir>/test/cluster/jest-global-teardown.ts',
    },
    {
      ...common,
      // On one real node (containerd, kubelet, kube-proxy: test/cluster/real-node.ts) beside a real
      // control plane, started once for the project; needs root, `make system-deps` and `make kube-binaries`.
      // Its teardown fails the run if the host is not left as it was.
      displayName: 'e2e-kube',
      roots: ['<rootDir>/test'],
      testMatch: ['**/*.kube.test.ts'],
      globalSetup: '<rootDir>/test/cluster/jest-real-node-setup.cjs',
      globalTeardown: '<rootDir>/test/cluster/jest-real-node-teardown.cjs',
    },
  ],
};
