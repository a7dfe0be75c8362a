'use strict';
/**
 * @lomash-wood/prisma-offline: the driver adapter each service's prisma.config.ts gives the
 * Prisma 6.19.3 CLI, which then runs its bundled Wasm schema engine (`engine: "js"`) through
 * `pg` and needs no engine binary.
 *
 * The package has no dependencies: the service passes in its own `PrismaPg` class and `pg`
 * module, so it is linked into each service with a `file:` dependency and `npm ci` installs
 * nothing into this folder.
 *
 *   import { PrismaPg } from "@prisma/adapter-pg";
 *   import pg from "pg";
 *   import { offlinePgAdapter } from "@lomash-wood/prisma-offline";
 *   adapter: async () => offlinePgAdapter({ PrismaPg, pg, url: datasource.url }),
 *
 * Stock @prisma/adapter-pg 6.19.3 has defects in this mode; they are worked around at run
 * time, without patching installed packages:
 *
 *  1. Columns of type "char" (oid 18), name (19) and name[] (1003) cannot be deserialized
 *     ("Column type 'name' could not be deserialized from the database"), which makes every
 *     `migrate deploy` fail. They are reported as text / text[].
 *  2. executeScript splits a migration on ';' (breaks on ';' inside literals and $$ bodies, and
 *     is not atomic). The whole script is sent as one simple query instead, which PostgreSQL
 *     runs as one implicit transaction.
 *  3. The shadow database (`migrate dev`, `migrate diff --from-migrations`): the connection
 *     string wins over the shadow database's name, and the shadow pool was dropped while still
 *     open. A real, separate database is created and dropped (the role needs CREATEDB).
 *  4. The Wasm engine arms 10 s / 60 s timers it never clears, so a successful command waits
 *     ~11 s before the process exits. Timers of 5 s or more are unref()'d, and the pool is
 *     created with allowExitOnIdle.
 *
 * It leans on adapter-pg 6.19.3 internals (performIO, executeScript, client): services pin
 * `prisma` and `@prisma/adapter-pg` to exactly 6.19.3.
 */

const LONG_TIMER_MS = 5000;
const UNREF_MARK = Symbol.for('lomash-wood.prisma-offline.timers');
const OID_CHAR = 18;
const OID_NAME = 19;
const OID_NAME_ARRAY = 1003;
const OID_TEXT = 25;
const OID_TEXT_ARRAY = 1009;

/** Defect 4: unref() long timers so they never hold the process open. Idempotent. */
function unrefLongTimers() {
  if (globalThis[UNREF_MARK]) return;
  globalThis[UNREF_MARK] = true;
  for (const name of ['setTimeout', 'setInterval']) {
    const original = globalThis[name];
    const wrapped = function (fn, delay, ...args) {
      const timer = original.call(this, fn, delay, ...args);
      if (Number(delay) >= LONG_TIMER_MS && timer && typeof timer.unref === 'function') timer.unref();
      return timer;
    };
    Object.defineProperty(wrapped, 'name', { value: name });
    globalThis[name] = wrapped;
  }
}

/** Defect 1: report "char"/name as text and name[] as text[] (rows parsed to match). */
function patchQueryable(queryable, parseTextArray) {
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

function patchAdapter(adapter, parseTextArray) {
  patchQueryable(adapter, parseTextArray);
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
    return patchQueryable(await startTransaction.apply(this, args), parseTextArray);
  };
  return adapter;
}

function withDatabase(connectionString, database) {
  const url = new URL(connectionString);
  url.pathname = '/' + encodeURIComponent(database);
  return url.toString();
}

/**
 * The adapter factory for prisma.config.ts.
 * @param {{PrismaPg: Function, pg: object, url?: string, schema?: string}} options
 */
function offlinePgAdapter({ PrismaPg, pg, url, schema } = {}) {
  if (typeof PrismaPg !== 'function' || !pg || !pg.types) {
    throw new Error('offlinePgAdapter needs { PrismaPg, pg }: pass the PrismaPg class of ' +
      '@prisma/adapter-pg and the pg module this service installs.');
  }
  unrefLongTimers();
  const connectionString = url || process.env.DATABASE_URL;
  if (!connectionString) {
    throw new Error('DATABASE_URL is not set: export it (or put it in this service\'s .env) and run again.');
  }
  if (!schema) {
    try {
      schema = new URL(connectionString).searchParams.get('schema') || undefined;
    } catch {
      schema = undefined;
    }
  }
  const parseTextArray = pg.types.getTypeParser(OID_TEXT_ARRAY, 'text');

  class OfflinePrismaPg extends PrismaPg {
    async connect() {
      return patchAdapter(await super.connect(), parseTextArray);
    }

    async connectToShadowDb() {
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
      const adapter = patchAdapter(await new PrismaPg(pool, this.options).connect(), parseTextArray);
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

  return new OfflinePrismaPg({ connectionString, allowExitOnIdle: true }, schema ? { schema } : undefined);
}

unrefLongTimers();

module.exports = { offlinePgAdapter, unrefLongTimers };
