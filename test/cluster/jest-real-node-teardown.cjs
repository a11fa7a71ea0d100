/* eslint-disable @typescript-eslint/no-require-imports -- jest loads globalSetup as CommonJS */
// Entry point of the e2e-kube project's globalTeardown (see ts-loader.cjs).
module.exports = require('./ts-loader.cjs')(require.resolve('./jest-real-node-teardown.ts'));
