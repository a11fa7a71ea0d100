#!/usr/bin/env node
// npm links a package's bins when it installs it (`npm ci` in the workspace, `npm install -g` of the
// packed package); in the workspace dist/ does not exist yet at that point, so the link must point
// at a file that is always there. The CLI itself is the built dist/cli/main.js.
import '../dist/cli/main.js';
