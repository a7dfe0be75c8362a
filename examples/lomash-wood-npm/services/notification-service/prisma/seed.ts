// notification-service development seed: message templates and a sent notification, idempotent
// (a second run inserts nothing: every insert is ON CONFLICT DO NOTHING). Run by `prisma db
// seed` (package.json "prisma.seed") or `npm run prisma:seed`. It connects as the service's own
// role, on its own database (DATABASE_URL). SEED_PROFILE: minimal | standard (default) | demo.
import 'dotenv/config';
import { Client } from 'pg';

const SERVICE = 'notification-service';
const PROFILES = ['minimal', 'standard', 'demo'] as const;
type Profile = (typeof PROFILES)[number];

// [the first profile that includes the row, statement, parameters]
const ROWS: Array<[Profile, string, unknown[]]> = [
  ['minimal',
   'INSERT INTO templates (key, channel, subject, body) VALUES ($1, $2, $3, $4) ON CONFLICT (key, channel) DO NOTHING',
   ['order-confirmation', 'EMAIL', 'Your Lomash Wood order {{orderNumber}}', 'Thank you for your order, {{name}}.']],
  ['standard',
   'INSERT INTO templates (key, channel, subject, body) VALUES ($1, $2, $3, $4) ON CONFLICT (key, channel) DO NOTHING',
   ['appointment-reminder', 'EMAIL', 'Your appointment is tomorrow', 'See you at {{showroom}} at {{time}}.']],
  ['standard',
   'INSERT INTO templates (key, channel, subject, body) VALUES ($1, $2, NULL, $3) ON CONFLICT (key, channel) DO NOTHING',
   ['appointment-reminder', 'SMS', 'Lomash Wood: your appointment is tomorrow at {{time}}.']],
  ['demo',
   "INSERT INTO notifications (id, channel, recipient, status, sent_at) VALUES ($1, $2, $3, 'SENT', now()) ON CONFLICT (id) DO NOTHING",
   ['60000000-0000-4000-8000-000000000001', 'EMAIL', 'sarah.ahmedexample.com']],
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
