// customer-service development seed: customer profiles, addresses, wishlists and loyalty
// accounts, idempotent (a second run inserts nothing: every insert is ON CONFLICT DO NOTHING).
// Run by `npm run db:seed` (this service sets no Prisma seed command). It connects as the
// service's own role, on its own database (DATABASE_URL). SEED_PROFILE: minimal | standard
// (default) | demo.
import 'dotenv/config';
import { Client } from 'pg';

const SERVICE = 'customer-service';
const PROFILES = ['minimal', 'standard', 'demo'] as const;
type Profile = (typeof PROFILES)[number];

// [the first profile that includes the row, statement, parameters]
const ROWS: Array<[Profile, string, unknown[]]> = [
  ['minimal',
   'INSERT INTO customers (id, auth_user_id, email, full_name, phone, marketing_opt_in) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email) DO NOTHING',
   ['70000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-000000000003', 'sarah.ahmedexample.com', 'Sarah Ahmed', '+44 7700 900123', true]],
  ['standard',
   'INSERT INTO customers (id, auth_user_id, email, full_name, phone, marketing_opt_in) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email) DO NOTHING',
   ['70000000-0000-4000-8000-000000000002', 'a0000000-0000-4000-8000-000000000004', 'james.wilsonexample.com', 'James Wilson', '+44 7700 900456', false]],
  ['minimal',
   'INSERT INTO addresses (id, customer_id, line1, city, postcode, is_default) VALUES ($1, $2, $3, $4, $5, true) ON CONFLICT (id) DO NOTHING',
   ['71000000-0000-4000-8000-000000000001', '70000000-0000-4000-8000-000000000001', '12 Elm Row', 'London', 'N1 7AA']],
  ['standard',
   'INSERT INTO wishlist_items (customer_id, product_sku) VALUES ($1, $2) ON CONFLICT DO NOTHING',
   ['70000000-0000-4000-8000-000000000001', 'LW-K-HAVEN']],
  ['standard',
   'INSERT INTO loyalty_accounts (customer_id, points, tier) VALUES ($1, $2, $3) ON CONFLICT (customer_id) DO NOTHING',
   ['70000000-0000-4000-8000-000000000001', 8950, 'GOLD']],
  ['demo',
   'INSERT INTO loyalty_accounts (customer_id, points) VALUES ($1, $2) ON CONFLICT (customer_id) DO NOTHING',
   ['70000000-0000-4000-8000-000000000002', 0]],
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
