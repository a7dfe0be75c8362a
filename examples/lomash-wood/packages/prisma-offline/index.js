'use strict';
/**
 * @lomash/prisma-offline: a PrismaPg driver adapter for the Prisma 6.19.3 CLI running the
 * Wasm schema engine (`engine: "js"` in prisma.config.ts). Nothing is downloaded: the
 * engine ships inside the `prisma` package and talks to PostgreSQL through `pg`.
 *
 * Stock @prisma/adapter-pg 6.19.3 has defects in this mode; this module works around them
 * at run time, without patching installed packages:
 *
 *  1. Columns of type "char" (oid 18), name (19) and name[] (1003) cannot be deserialized
 *     ("Column type 'name' could not be deserialized from the database", prisma/orm#27403),
 *     which makes every `migrate deploy` fail. They are reported as text / text[].
 *  2. executeScript splits a migration on ';' (breaks on ';' inside literals and $$ bodies,
 *     and is not atomic). The whole script is sent as one simple query instead, which
 *     PostgreSQL runs as one implicit transaction.
 *  3. The shadow database of `migrate dev`: the connection string wins over the shadow
 *     database name, and the shadow pool was dropped while still open. Both fixed; and
 *     SHADOW_DATABASE_URL, when set, names a shadow database made by the caller.
 *  4. The Wasm engine arms 10 s / 60 s timers it never clears, so a successful command
 *     waits ~11 s before the process exits. Timers of 5 s or more are unref()'d, and the
 *     pool is created with allowExitOnIdle.
 *
 * It leans on adapter-pg 6.19.3 internals (performIO, executeScript, client): keep
 * `prisma` and `@prisma/adapter-pg` pinned to exactly 6.19.3.
 */
const { PrismaPg } = require('@prisma/adapter-pg');
const pg = require('pg');

const LONG_TIMER_MS = 5000;
const UNREF_MARK = Symbol.for('lomash.prisma-offline.timers');

/** Defect 4: unref() long timers so they never hold the process open. Idempotent. */
function unrefLongTimers() {
  if (globalThis[UNREF_MARK]) return;
  globalThis[UNREF_MARK] = true;
  for (const name of ['setTimeout', 'setInterval']) {
    const original = globalThis[name];
    const wrapped = function (fn, delay, ...args) {
      const timer = original.call(this, fn, delay, ...args);
      if (Number(delay) >= LONG_TIMER_MS && timer && typeof timer.unref === 'function') {
        timer.unref();
      }
      return timer;
    };
    Object.defineProperty(wrapped, 'name', { value: name });
    globalThis[name] = wrapped;
  }
}

const OID_CHAR = 18;
const OID_NAME = 19;
const OID_NAME_ARRAY = 1003;
const OID_TEXT = 25;
const OID_TEXT_ARRAY = 1009;
const parseTextArray = pg.types.getTypeParser(OID_TEXT_ARRAY, 'text');

/** Defect 1: report "char"/name as text and name[] as text[] (rows parsed to match). */
function patchQueryable(queryable) {
  const performIO = queryable.performIO;
  queryable.performIO = async function (query) {
    const result = await performIO.call(this, query);
    const fields = result && result.fields;
    if (!fields) return result;
    fields.forEach((field, index) => {
      if (field.dataTypeID === OID_CHAR || field.dataTypeID === OID_NAME) {
        field.dataTypeID = OID_TEXT;
      } else if (field.dataTypeID === OID_NAME_ARRAY) {
        field.dataTypeID = OID_TEXT_ARRAY;
        for (const row of result.rows) {
          if (typeof row[index] === 'string') row[index] = parseTextArray(row[index]);
        }
      }
    });
    return result;
  };
  return queryable;
}

function patchAdapter(adapter) {
  patchQueryable(adapter);
  // Defect 2: one script, one query.
  adapter.executeScript = async function (script) {
    try {
      await this.client.query(script);
    } catch (error) {
      this.onError(error);
    }
  };
  const startTransaction = adapter.startTransaction;
  adapter.startTransaction = async function (...args) {
    return patchQueryable(await startTransaction.apply(this, args));
  };
  return adapter;
}

function withDatabase(connectionString, database) {
  const url = new URL(connectionString);
  url.pathname = '/' + encodeURIComponent(database);
  return url.toString();
}

class OfflinePrismaPg extends PrismaPg {
  async connect() {
    return patchAdapter(await super.connect());
  }

  /**
   * Defect 3: a shadow database that really is a separate database, dropped cleanly.
   * With SHADOW_DATABASE_URL set (Prisma refuses --shadow-database-url when an adapter is
   * configured), that database is used as it is: whoever made it drops it.
   */
  async connectToShadowDb() {
    const given = process.env.SHADOW_DATABASE_URL;
    if (given) {
      const pool = new pg.Pool({ ...this.config, connectionString: given });
      const adapter = patchAdapter(await new PrismaPg(pool).connect());
      adapter.dispose = async () => {
        await pool.end();
      };
      return adapter;
    }
    const admin = await this.connect();
    const database = `prisma_migrate_shadow_db_${globalThis.crypto.randomUUID()}`;
    await admin.executeScript(`CREATE DATABASE "${database}"`);
    const config = { ...this.config };
    if (config.connectionString) {
      config.connectionString = withDatabase(config.connectionString, database);
    } else {
      config.database = database;
    }
    const pool = new pg.Pool(config);
    const adapter = patchAdapter(await new PrismaPg(pool).connect());
    adapter.dispose = async () => {
      await pool.end();
      try {
        await admin.executeScript(`DROP DATABASE IF EXISTS "${database}"`);
      } finally {
        await admin.dispose();
      }
    };
    return adapter;
  }
}

/**
 * The adapter factory for prisma.config.ts.
 * @param {{connectionString?: string, schema?: string}} [options]
 */
function createPgAdapter(options = {}) {
  unrefLongTimers();
  const connectionString = options.connectionString || process.env.DATABASE_URL;
  if (!connectionString) {
    throw new Error(
      'DATABASE_URL is not set. Prisma does not read .env when prisma.config.ts uses ' +
        'engine "js": export DATABASE_URL (e.g. from this service\'s .env) and run again.'
    );
  }
  let schema = options.schema;
  if (!schema) {
    try {
      schema = new URL(connectionString).searchParams.get('schema') || undefined;
    } catch {
      schema = undefined;
    }
  }
  const pgOptions = schema ? { schema } : undefined;
  return new OfflinePrismaPg({ connectionString, allowExitOnIdle: true }, pgOptions);
}

unrefLongTimers();

module.exports = { createPgAdapter, OfflinePrismaPg, unrefLongTimers };
