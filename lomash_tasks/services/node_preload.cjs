'use strict';
// Loaded by the suite into every Node process of a service it runs (NODE_OPTIONS=--require).
// In the service's own process only (not in its package manager, not in its watcher), it tells
// the suite's supervisor its pid and opens the inspector on the service's debug port, so a
// debugger attaches to the service's code whatever starts it (pnpm, npm, nodemon, ts-node-dev,
// tsx watch, node --watch), and the port stays the same across reloads.
//
//   LOMASH_SERVICE_EVENTS  the file the supervisor reads: one JSON line per event
//                          (start, inspector, exit)
//   LOMASH_INSPECT         host:port of the inspector; empty when the script opens its own
//   LOMASH_WRAPPERS        more packages that only start other processes (comma-separated)
//   LOMASH_SERVICE_PID     set here, in the service's own process: what it starts itself
//                          (workers, tools) is not the service
(function () {
  const env = process.env;
  const events = env.LOMASH_SERVICE_EVENTS;
  if (!events || env.LOMASH_SERVICE_PID) return;
  try {
    if (!require('worker_threads').isMainThread) return; // e.g. a module loader's thread
  } catch (err) { /* no worker_threads: the main thread */ }
  if (process.execArgv.some((a) => a === '--watch' || a.startsWith('--watch-path'))) return;

  const fs = require('fs');
  const path = require('path');

  // Packages whose programs start the service rather than being it.
  const WRAPPERS = new Set([
    'npm', 'pnpm', 'yarn', '@yarnpkg/cli-dist', 'corepack', 'nodemon', 'node-dev', 'tsx',
    'cross-env', 'dotenv-cli', 'env-cmd', 'npm-run-all', 'npm-run-all2', 'concurrently',
    'turbo', 'nx', 'lerna', '@nestjs/cli', 'tsc-watch', 'wait-on',
    ...String(env.LOMASH_WRAPPERS || '').split(',').map((s) => s.trim()).filter(Boolean),
  ]);
  // Packages with both: the parent program watches, its child runs the service in-process.
  const PARENT_FILES = {
    'ts-node-dev': /[\\/]lib[\\/]bin\.js$/, // its child is lib/wrap.js
    '@babel/node': /[\\/]bin[\\/]babel-node\.js$/, // its child is lib/_babel-node.js
    'ts-node': /[\\/]dist[\\/]bin-esm\.js$/, // ts-node --esm runs the script in a child
  };

  function packageOf(file) {
    const parts = file.split(/[\\/]/);
    const at = parts.lastIndexOf('node_modules');
    if (at < 0 || at + 1 >= parts.length) return '';
    const first = parts[at + 1];
    return first.startsWith('@') && at + 2 < parts.length ? first + '/' + parts[at + 2] : first;
  }

  function wrapper(main) {
    if (!main) return false; // node -e, node -p: the service itself
    const base = path.basename(main);
    if (/^(npm-cli|npx-cli|pnpm|pnpx|yarn|corepack)(\.c?js)?$/.test(base)) return true;
    if (/^yarn-.+\.c?js$/.test(base)) return true; // Yarn's own release file (.yarn/releases)
    const pkg = packageOf(main);
    if (PARENT_FILES[pkg]) {
      if (pkg === 'ts-node' && process.argv.includes('--esm')) return true;
      return PARENT_FILES[pkg].test(main);
    }
    return WRAPPERS.has(pkg);
  }

  let main = process.argv[1] || '';
  try {
    if (main) main = fs.realpathSync(main);
  } catch (err) { /* a script that does not exist: node reports it */ }
  if (wrapper(main)) return;

  env.LOMASH_SERVICE_PID = String(process.pid);
  function note(fields) {
    try {
      fs.appendFileSync(events, JSON.stringify({ pid: process.pid, ...fields }) + '\n');
    } catch (err) { /* the supervisor went away: nothing to tell */ }
  }
  note({ event: 'start', ppid: process.ppid, main, at: Date.now() / 1000 });
  process.on('exit', (code) => note({ event: 'exit', code, at: Date.now() / 1000 }));

  const where = env.LOMASH_INSPECT || '';
  const inspector = require('inspector');
  if (inspector.url()) { // the script's own --inspect (or NODE_OPTIONS) opened it
    note({ event: 'inspector', url: inspector.url(), own: true });
    return;
  }
  if (!where) return;
  const cut = where.lastIndexOf(':');
  const host = cut > 0 ? where.slice(0, cut) : '127.0.0.1';
  const port = Number(where.slice(cut + 1));
  if (!Number.isInteger(port) || port <= 0) return;

  // The process a reload replaces may still hold the port for a moment: try again until it
  // is free (probing first, so Node prints its "address already in use" line only once).
  const deadline = Date.now() + 10000;
  function opened() {
    if (!inspector.url()) return false;
    note({ event: 'inspector', url: inspector.url() });
    return true;
  }
  function retry() {
    if (Date.now() > deadline) {
      note({ event: 'inspector', error: `port ${port} on ${host} stayed in use` });
      return;
    }
    const probe = require('net').createServer();
    probe.unref();
    probe.once('error', () => setTimeout(retry, 100).unref());
    probe.listen(port, host, () => probe.close(() => {
      inspector.open(port, host, false);
      if (!opened()) setTimeout(retry, 100).unref();
    }));
  }
  inspector.open(port, host, false);
  if (!opened()) retry();
})();
