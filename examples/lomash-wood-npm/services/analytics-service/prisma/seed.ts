// analytics-service development seed: funnels, a day of metrics and sample events, idempotent (a
// second run inserts nothing: every insert is ON CONFLICT DO NOTHING). Run by `prisma db seed`
// (package.json "prisma.seed") or `npm run prisma:seed`. It connects as the service's own role,
// on its own database (DATABASE_URL). SEED_PROFILE: minimal | standard (default) | demo.
import 'dotenv/config';
import { Client } from 'pg';

const SERVICE = 'analytics-service';
const PROFILES = ['minimal', 'standard', 'demo'] as const;
type Profile = (typeof PROFILES)[number];

// [the first profile that includes the row, statement, parameters]
const ROWS: Array<[Profile, string, unknown[]]> = [
  ['minimal',
   'INSERT INTO funnels (name, steps) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING',
   ['brochure-to-booking', ['BROCHURE_REQUEST', 'APPOINTMENT_BOOKED']]],
  ['standard',
   'INSERT INTO funnels (name, steps) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING',
   ['view-to-checkout', ['PRODUCT_VIEW', 'CHECKOUT_STARTED']]],
  ['standard',
   "INSERT INTO daily_metrics (day, metric, value) VALUES (DATE '2026-01-01', $1, $2) ON CONFLICT DO NOTHING",
   ['page_views', 1520]],
  ['standard',
   "INSERT INTO daily_metrics (day, metric, value) VALUES (DATE '2026-01-01', $1, $2) ON CONFLICT DO NOTHING",
   ['bookings', 14]],
  ['demo',
   'INSERT INTO events (type, session_id, path) SELECT CAST($1 AS "EventType"), $2::text, $3::text WHERE NOT EXISTS (SELECT 1 FROM events WHERE session_id = $2 AND path = $3)',
   ['PAGE_VIEW', 'seed-session-1', '/kitchens/luna-shaker-kitchen']],
];

function profile(): Profile {
  const value = (process.env.SEED_PROFILE || 'standard').trim().toLowerCase();
  if (!(PROFILES as readonly string[]).includes(value)) {
    throw new Error(`SEED_PROFILE=${value} is not one of ${PROFILES.join(', ')}`);
  }
  return value as Profile;
}

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is not set');
  const chosen = profile();
  const client = new Client({ connectionString: url });
  await client.connect();
  let inserted = 0;
  try {
    await client.query('BEGIN');
    for (const [from, sql, params] of ROWS) {
      if (PROFILES.indexOf(from) > PROFILES.indexOf(chosen)) continue;
      const res = await client.query(sql, params);
      inserted += res.rowCount ?? 0;
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await client.end();
  }
  console.log(`[seed] ${SERVICE}: inserted ${inserted} rows (profile ${chosen})`);
}

main().catch((error: unknown) => {
  console.error(`[seed] ${SERVICE} failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
