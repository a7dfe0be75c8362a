// What every Lomash Wood service shares (plain Node 20, no build step):
//   serve({ name, checks, routes })  an HTTP server on HOST:PORT (HOST defaults to 127.0.0.1;
//                                   the Compose files set 0.0.0.0 inside containers)
//   GET /health                      200 only when every check answers, 503 naming the failed ones
//   postgresCheck(url)               SELECT 1 as the service's own role, on its own database
//   redisCheck(url)                  AUTH + SELECT <index> + PING over a plain TCP socket (RESP)
//   httpCheck(url)                   an upstream's GET /health answers 200 (the gateway's checks)
'use strict';
const http = require('node:http');
const net = require('node:net');

const CHECK_TIMEOUT_MS = Number(process.env.HEALTH_CHECK_TIMEOUT_MS || 2000);

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function postgresCheck(url) {
  const { Client } = require('pg');
  return async () => {
    if (!url) throw new Error('DATABASE_URL is not set');
    const client = new Client({ connectionString: url, connectionTimeoutMillis: CHECK_TIMEOUT_MS });
    try {
      await withTimeout(client.connect(), CHECK_TIMEOUT_MS, 'postgres');
      const res = await withTimeout(client.query('SELECT current_user AS role, current_database() AS db'),
        CHECK_TIMEOUT_MS, 'postgres');
      return `${res.rows[0].role}@${res.rows[0].db}`;
    } finally {
      client.end().catch(() => {});
    }
  };
}

// A tiny RESP client: enough for AUTH, SELECT and PING, so health needs no Redis library.
function respCommand(...args) {
  let out = `*${args.length}\r\n`;
  for (const arg of args) out += `$${Buffer.byteLength(String(arg))}\r\n${arg}\r\n`;
  return out;
}

function redisCheck(url) {
  return () => new Promise((resolve, reject) => {
    if (!url) return reject(new Error('REDIS_URL is not set'));
    let parsed;
    try { parsed = new URL(url); } catch (err) { return reject(new Error(`REDIS_URL is not a URL: ${err.message}`)); }
    const index = Number((parsed.pathname || '/0').slice(1) || 0);
    const commands = [];
    const password = decodeURIComponent(parsed.password || '');
    const user = decodeURIComponent(parsed.username || '');
    if (password) commands.push(user ? respCommand('AUTH', user, password) : respCommand('AUTH', password));
    commands.push(respCommand('SELECT', index), respCommand('PING'));
    const socket = net.connect({ host: parsed.hostname || '127.0.0.1', port: Number(parsed.port || 6379) });
    let buffer = '';
    const done = (err, value) => { socket.destroy(); clearTimeout(timer); err ? reject(err) : resolve(value); };
    const timer = setTimeout(() => done(new Error(`redis did not answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
    socket.on('connect', () => socket.write(commands.join('')));
    socket.on('error', (err) => done(err));
    socket.on('data', (chunk) => {
      buffer += chunk.toString();
      const lines = buffer.split('\r\n').filter(Boolean);
      const bad = lines.find((line) => line.startsWith('-'));
      if (bad) return done(new Error(bad.slice(1)));
      if (lines.length >= commands.length) done(null, `db ${index}: ${lines[lines.length - 1].slice(1)}`);
    });
  });
}

function httpCheck(url) {
  return () => new Promise((resolve, reject) => {
    const req = http.get(new URL('/health', url), { timeout: CHECK_TIMEOUT_MS }, (res) => {
      res.resume();
      if (res.statusCode === 200) resolve(`${res.statusCode}`);
      else reject(new Error(`GET /health answered ${res.statusCode}`));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)));
    req.on('error', reject);
  });
}

async function runChecks(checks) {
  const names = Object.keys(checks);
  const settled = await Promise.allSettled(names.map((n) => checks[n]()));
  const results = {};
  const failed = [];
  settled.forEach((r, i) => {
    if (r.status === 'fulfilled') results[names[i]] = { ok: true, detail: r.value };
    else {
      results[names[i]] = { ok: false, error: (r.reason && (r.reason.message || r.reason.code)) || String(r.reason) };
      failed.push(names[i]);
    }
  });
  return { failed, results };
}

function sendJson(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function readBody(req, limit = 1024 * 1024) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) { reject(new Error('body too large')); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

// The usual checks of a service with a database and a Redis index.
function ownChecks(env = process.env) {
  return { postgres: postgresCheck(env.DATABASE_URL), redis: redisCheck(env.REDIS_URL) };
}

function serve({ name = process.env.SERVICE_NAME, checks = {}, routes = {} } = {}) {
  const port = Number(process.env.PORT || 3000);
  const host = process.env.HOST || '127.0.0.1';
  const started = Date.now();
  const server = http.createServer(async (req, res) => {
    const path = (req.url || '/').split('?')[0];
    try {
      if (req.method === 'GET' && (path === '/health' || path === '/v1/health')) {
        const { failed, results } = await runChecks(checks);
        const body = { status: failed.length ? 'unhealthy' : 'ok', service: name, pid: process.pid,
          uptime_s: Math.round((Date.now() - started) / 1000), checks: results };
        if (failed.length) body.failed = failed;
        return sendJson(res, failed.length ? 503 : 200, body);
      }
      const handler = routes[`${req.method} ${path}`];
      if (handler) return await handler(req, res, { sendJson, readBody });
      sendJson(res, 404, { error: 'not_found', service: name });
    } catch (err) {
      console.error(`${name}: ${req.method} ${path} failed:`, err);
      if (!res.headersSent) sendJson(res, 500, { error: 'internal', service: name });
    }
  });
  server.listen(port, host, () => console.log(`${name} listening on http://${host}:${port} (pid ${process.pid})`));
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      server.close(() => process.exit(0));
      setTimeout(() => process.exit(0), 1000).unref();
    });
  }
  return server;
}

module.exports = { serve, ownChecks, postgresCheck, redisCheck, httpCheck, runChecks, sendJson, readBody };
