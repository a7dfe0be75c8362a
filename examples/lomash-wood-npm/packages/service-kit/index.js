// @lomash-wood/service-kit: what every Lomash Wood service shares (plain CommonJS, no build
// step, no dependencies of its own: a service passes in its own `pg` Client).
//
//   requireSettings(service, env, names)  the named variables, or a ConfigError naming every
//                                         missing one (the service exits 1 with that message)
//   startServer({ service, host, port, checks })
//                                         HTTP on host:port; GET /health answers 200 only when
//                                         every check answers, else 503 naming what failed
//   postgresCheck(Client, url)            SELECT as the service's own role on its own database
//   redisFromUrl(url) / redisFromParts(env)
//                                         where the service's Redis index is (REDIS_URL, or the
//                                         split REDIS_HOST/REDIS_PORT/REDIS_PASSWORD/REDIS_DB)
//   redisCheck(target)                    AUTH + SELECT <index> + PING (a tiny RESP client)
//   httpCheck(url)                        an upstream's GET /health answers 200 (the gateway)
//   exitOnStartupError(service, error)    one clear line on stderr, exit code 1
'use strict';
const http = require('node:http');
const net = require('node:net');

const CHECK_TIMEOUT_MS = Number(process.env.HEALTH_CHECK_TIMEOUT_MS || 2000);

class ConfigError extends Error {
  constructor(service, missing, invalid = []) {
    const parts = [];
    if (missing.length) parts.push(`missing required environment variable(s): ${missing.join(', ')}`);
    if (invalid.length) parts.push(`invalid value(s): ${invalid.join('; ')}`);
    super(`${service}: ${parts.join('; ')}. Copy .env.example to .env in this service's folder ` +
      'and fill them in, or set them in the environment.');
    this.name = 'ConfigError';
    this.missing = missing;
    this.invalid = invalid;
  }
}

/** The named variables from `env`; a ConfigError naming every one that is unset or empty. */
function requireSettings(service, env, names) {
  const missing = names.filter((name) => env[name] === undefined || String(env[name]).trim() === '');
  if (missing.length) throw new ConfigError(service, missing);
  const out = {};
  for (const name of names) out[name] = String(env[name]).trim();
  return out;
}

/** A TCP port from a variable's value; a ConfigError when it is not one. */
function portNumber(service, name, value) {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ConfigError(service, [], [`${name}=${value} is not a TCP port`]);
  }
  return port;
}

function exitOnStartupError(service, error) {
  const message = error instanceof ConfigError ? error.message
    : `${service}: failed to start: ${error && error.message ? error.message : String(error)}`;
  console.error(message);
  process.exit(1);
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function postgresCheck(Client, url) {
  return async () => {
    const client = new Client({ connectionString: url, connectionTimeoutMillis: CHECK_TIMEOUT_MS });
    client.on('error', () => {});
    try {
      await withTimeout(client.connect(), CHECK_TIMEOUT_MS, 'postgres');
      const res = await withTimeout(
        client.query('SELECT current_user AS role, current_database() AS db'),
        CHECK_TIMEOUT_MS, 'postgres');
      return `${res.rows[0].role}@${res.rows[0].db}`;
    } finally {
      client.end().catch(() => {});
    }
  };
}

/** { host, port, username, password, db } from redis://[[user]:password@]host[:port][/index]. */
function redisFromUrl(url) {
  const parsed = new URL(url);
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new Error(`REDIS_URL must start with redis:// (got ${parsed.protocol}//)`);
  }
  const index = (parsed.pathname || '/').slice(1);
  return {
    host: parsed.hostname || '127.0.0.1',
    port: Number(parsed.port || 6379),
    username: decodeURIComponent(parsed.username || ''),
    password: decodeURIComponent(parsed.password || ''),
    db: Number(index || 0),
  };
}

/** The same from REDIS_HOST, REDIS_PORT, REDIS_PASSWORD (may be empty) and REDIS_DB. */
function redisFromParts(env) {
  return {
    host: env.REDIS_HOST || '127.0.0.1',
    port: Number(env.REDIS_PORT || 6379),
    username: env.REDIS_USERNAME || '',
    password: env.REDIS_PASSWORD || '',
    db: Number(env.REDIS_DB || 0),
  };
}

function resp(...args) {
  let out = `*${args.length}\r\n`;
  for (const arg of args) out += `$${Buffer.byteLength(String(arg))}\r\n${arg}\r\n`;
  return out;
}

function redisCheck(target) {
  return () => new Promise((resolve, reject) => {
    const commands = [];
    if (target.password) {
      commands.push(target.username ? resp('AUTH', target.username, target.password)
        : resp('AUTH', target.password));
    }
    commands.push(resp('SELECT', target.db), resp('PING'));
    const socket = net.connect({ host: target.host, port: target.port });
    let buffer = '';
    const timer = setTimeout(
      () => done(new Error(`redis did not answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
    function done(err, value) {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err); else resolve(value);
    }
    socket.on('connect', () => socket.write(commands.join('')));
    socket.on('error', (err) => done(err));
    socket.on('data', (chunk) => {
      buffer += chunk.toString();
      const lines = buffer.split('\r\n').filter(Boolean);
      const bad = lines.find((line) => line.startsWith('-'));
      if (bad) return done(new Error(bad.slice(1)));
      if (lines.length >= commands.length) done(null, `db ${target.db}: ${lines[lines.length - 1].slice(1)}`);
    });
  });
}

function httpCheck(url) {
  return () => new Promise((resolve, reject) => {
    const req = http.get(new URL('/health', url), { timeout: CHECK_TIMEOUT_MS }, (res) => {
      res.resume();
      if (res.statusCode === 200) resolve('200');
      else reject(new Error(`GET /health answered ${res.statusCode}`));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)));
    req.on('error', reject);
  });
}

async function runChecks(checks) {
  const names = Object.keys(checks);
  const settled = await Promise.allSettled(names.map((name) => checks[name]()));
  const results = {};
  const failed = [];
  settled.forEach((outcome, i) => {
    if (outcome.status === 'fulfilled') {
      results[names[i]] = { ok: true, detail: outcome.value };
    } else {
      const reason = outcome.reason;
      results[names[i]] = { ok: false, error: (reason && (reason.message || reason.code)) || String(reason) };
      failed.push(names[i]);
    }
  });
  return { failed, results };
}

function sendJson(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function startServer({ service, host = '127.0.0.1', port, checks = {} }) {
  const started = Date.now();
  const server = http.createServer(async (req, res) => {
    const path = (req.url || '/').split('?')[0];
    try {
      if (req.method === 'GET' && (path === '/health' || path === '/api/v1/health')) {
        const { failed, results } = await runChecks(checks);
        const body = {
          status: failed.length ? 'unhealthy' : 'ok', service, pid: process.pid,
          uptime_s: Math.round((Date.now() - started) / 1000), checks: results,
        };
        if (failed.length) body.failed = failed;
        return sendJson(res, failed.length ? 503 : 200, body);
      }
      sendJson(res, 404, { error: 'not_found', service });
    } catch (err) {
      console.error(`${service}: ${req.method} ${path} failed:`, err);
      if (!res.headersSent) sendJson(res, 500, { error: 'internal', service });
    }
  });
  server.on('error', (err) => exitOnStartupError(service, err));
  server.listen(port, host, () => {
    console.log(`${service} listening on http://${host}:${port} (pid ${process.pid})`);
  });
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      server.close(() => process.exit(0));
      setTimeout(() => process.exit(0), 1000).unref();
    });
  }
  return server;
}

module.exports = {
  ConfigError, requireSettings, portNumber, exitOnStartupError, startServer, runChecks,
  postgresCheck, redisFromUrl, redisFromParts, redisCheck, httpCheck,
};
