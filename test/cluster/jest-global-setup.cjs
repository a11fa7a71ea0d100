/* eslint-disable @typescript-eslint/no-require-imports -- jest loads globalSetup as CommonJS */
// Entry point of the cluster project's globalSetup. Jest loads globalSetup through its transform but
// without moduleNameMapper, so the launcher's NodeNext-style `./x.js` imports would not find `./x.ts`;
// map them while the launcher loads (all of it synchronously, below), then restore the resolver.
const Module = require('node:module');

const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  try {
    return resolve.call(this, request, ...rest);
  } catch (err) {
    if (!/^\.\.?\/.*\.js$/.test(request)) throw err;
    return resolve.call(this, request.slice(0, -3) + '.ts', ...rest);
  }
};
try {
  module.exports = require('./jest-global-setup.ts').default;
} finally {
  Module._resolveFilename = resolve;
}
