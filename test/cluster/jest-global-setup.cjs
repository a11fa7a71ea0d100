/* eslint-disable @typescript-eslint/no-require-imports -- jest loads globalSetup as CommonJS */
// Entry point of the cluster project's globalSetup (see ts-loader.cjs).
module.exports = require('./ts-loader.cjs')(require.resolve('./jest-global-setup.ts'));
