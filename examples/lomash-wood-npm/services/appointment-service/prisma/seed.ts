// appointment-service development seed: showrooms, consultants and bookings, idempotent (a
// second run inserts nothing: every insert is ON CONFLICT DO NOTHING). Run by `prisma db seed`
// (prisma.config.ts "migrations.seed"). It connects as the service's own role, on its own
// database (DATABASE_URL). SEED_PROFILE: minimal | standard (default) | demo.
import 'dotenv/config';
import { Client } from 'pg';

const SERVICE = 'appointment-service';
const PROFILES = ['minimal', 'standard', 'demo'] as const;
type Profile = (typeof PROFILES)[number];

// [the first profile that includes the row, statement, parameters]
const ROWS: Array<[Profile, string, unknown[]]> = [
  ['minimal',
   'INSERT INTO showrooms (id, code, name, postcode) VALUES ($1, $2, $3, $4) ON CONFLICT (code) DO NOTHING',
   ['90000000-0000-4000-8000-000000000001', 'LDN-CAM', 'Camden Showroom', 'NW1 8AH']],
  ['standard',
   'INSERT INTO showrooms (id, code, name, postcode) VALUES ($1, $2, $3, $4) ON CONFLICT (code) DO NOTHING',
   ['90000000-0000-4000-8000-000000000002', 'MAN-SPN', 'Spinningfields Showroom', 'M3 3AP']],
  ['minimal',
   'INSERT INTO consultants (id, email, name, showroom_id) VALUES ($1, $2, $3, $4) ON CONFLICT (email) DO NOTHING',
   ['91000000-0000-4000-8000-000000000001', 'tom.evanslomashwood.local', 'Tom Evans', '90000000-0000-4000-8000-000000000001']],
  ['standard',
   'INSERT INTO consultants (id, email, name, showroom_id) VALUES ($1, $2, $3, $4) ON CONFLICT (email) DO NOTHING',
   ['91000000-0000-4000-8000-000000000002', 'amira.khanlomashwood.local', 'Amira Khan', '90000000-0000-4000-8000-000000000002']],
  ['standard',
   "INSERT INTO bookings (reference, customer_id, consultant_id, showroom_id, type, status, starts_at, ends_at) VALUES ($1, $2, $3, $4, $5, $6, now() + interval '3 days', now() + interval '3 days 1 hour') ON CONFLICT (reference) DO NOTHING",
   ['BK-0001', 'a0000000-0000-4000-8000-000000000003', '91000000-0000-4000-8000-000000000001', '90000000-0000-4000-8000-000000000001', 'SHOWROOM', 'CONFIRMED']],
  ['demo',
   "INSERT INTO bookings (reference, customer_id, consultant_id, type, status, starts_at, ends_at) VALUES ($1, $2, $3, $4, $5, now() + interval '5 days', now() + interval '5 days 2 hours') ON CONFLICT (reference) DO NOTHING",
   ['BK-0002', 'a0000000-0000-4000-8000-000000000004', '91000000-0000-4000-8000-000000000002', 'HOME_MEASUREMENT', 'REQUESTED']],
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
