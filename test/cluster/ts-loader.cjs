/* eslint-disable @typescript-eslint/no-require-imports -- jest loads globalSetup as CommonJS */
// Jest loads globalSetup/globalTeardown through its transform but without moduleNameMapper, so the
// launcher's NodeNext-style `./x.js` imports would not find `./x.ts`; map them while `path` loads
// (all of it synchronously), then restore the resolver.
const Module = require('node:module');

module.exports = function loadTs(path) {
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
    return require(path).default;
  } finally {
    Module._resolveFilename = resolve;
  }
};
