// auth-service end-to-end tests against its own test database.
//
// Run by `inv test --service auth --kind e2e`, which resets lomash_auth_test first (a copy of
// its template, seeded with prisma/seed.test.sql) and passes .env.test's values; or by hand,
// against a freshly reset database: `pnpm run test:e2e` with TEST_DATABASE_URL set.
// The tests expect exactly the `test` seed profile's rows: on a database left over from an
// earlier run they fail, on purpose (reset it: `inv db.reset --env test --service auth`).
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Client } = require('pg');

const url = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL;
let db;

before(async () => {
  assert.ok(url, 'TEST_DATABASE_URL (or DATABASE_URL) is not set: run through `inv test`');
  db = new Client({ connectionString: url });
  await db.connect();
});

after(async () => {
  if (db) await db.end();
});

async function one(sql, params = []) {
  const { rows } = await db.query(sql, params);
  return rows[0];
}

test('runs against a test database, as the service role', async () => {
  const { database, role } = await one('SELECT current_database() AS database, current_user AS role');
  assert.match(database, /_test$/, `refusing to run e2e tests against ${database}`);
  assert.equal(role, 'lomash_auth');
});

test('starts from the test seed profile, nothing more', async () => {
  const { rows } = await db.query('SELECT email::text AS email FROM users ORDER BY email');
  assert.deepEqual(rows.map((r) => r.email),
    ['e2e.admin@lomashwood.test', 'e2e.customer@lomashwood.test']);
  const admin = await one(
    `SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id
     JOIN users u ON u.id = ur.user_id WHERE u.email = 'e2e.admin@lomashwood.test'`);
  assert.equal(admin.name, 'admin');
});

test('a seeded login checks its password with pgcrypto', async () => {
  const check = `SELECT a.password_hash = crypt($2, a.password_hash) AS ok
                 FROM accounts a JOIN users u ON u.id = a.user_id
                 WHERE u.email = $1 AND a.provider_id = 'credential'`;
  assert.equal((await one(check, ['E2E.Customer@lomashwood.test', 'e2e-password'])).ok, true);
  assert.equal((await one(check, ['e2e.customer@lomashwood.test', 'wrong'])).ok, false);
});

test('a registration creates a pending user and its credential account', async () => {
  await db.query('BEGIN');
  try {
    const user = await one(
      `INSERT INTO users (email, name) VALUES ($1, 'New Customer') RETURNING id, status`,
      ['new.customer@lomashwood.test']);
    assert.equal(user.status, 'PENDING_VERIFICATION');
    await db.query(
      `INSERT INTO accounts (user_id, provider_id, account_id, password_hash)
       VALUES ($1, 'credential', $2, crypt($3, gen_salt('bf', 4)))`,
      [user.id, 'new.customer@lomashwood.test', 'secret-1']);
    await db.query('COMMIT');
  } catch (err) {
    await db.query('ROLLBACK');
    throw err;
  }
  const { count } = await one('SELECT count(*)::int AS count FROM users');
  assert.equal(count, 3);
});

test('an email is registered once, whatever its case (citext)', async () => {
  await assert.rejects(
    db.query(`INSERT INTO users (email) VALUES ('NEW.Customer@LomashWood.test')`),
    (err) => err.code === '23505' && /users_email_key/.test(err.constraint || err.message));
});

test('deleting a user removes its accounts, sessions and roles', async () => {
  const user = await one(`SELECT id FROM users WHERE email = 'new.customer@lomashwood.test'`);
  await db.query(
    `INSERT INTO sessions (user_id, token, expires_at) VALUES ($1, 'e2e-session', now() + interval '1 hour')`,
    [user.id]);
  await db.query('DELETE FROM users WHERE id = $1', [user.id]);
  const left = await one(
    `SELECT (SELECT count(*) FROM accounts WHERE user_id = $1)::int
          + (SELECT count(*) FROM sessions WHERE user_id = $1)::int AS n`, [user.id]);
  assert.equal(left.n, 0);
});
