// order-payment-service development seed: orders, their items and payments, idempotent (a second
// run inserts nothing: every insert is ON CONFLICT DO NOTHING). Run by `prisma db seed`
// (package.json "prisma.seed") or `npm run db:seed`. It connects as the service's own role, on
// its own database (DATABASE_URL). SEED_PROFILE: minimal | standard (default) | demo.
import 'dotenv/config';
import { Client } from 'pg';

const SERVICE = 'order-payment-service';
const PROFILES = ['minimal', 'standard', 'demo'] as const;
type Profile = (typeof PROFILES)[number];

// [the first profile that includes the row, statement, parameters]
const ROWS: Array<[Profile, string, unknown[]]> = [
  ['minimal',
   'INSERT INTO orders (id, order_number, customer_id, status, total_pence) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (order_number) DO NOTHING',
   ['d0000000-0000-4000-8000-000000000001', 'LW-0000000001', 'a0000000-0000-4000-8000-000000000003', 'CONFIRMED', 895000]],
  ['standard',
   'INSERT INTO orders (id, order_number, customer_id, status, total_pence) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (order_number) DO NOTHING',
   ['d0000000-0000-4000-8000-000000000002', 'LW-0000000002', 'a0000000-0000-4000-8000-000000000004', 'PENDING', 420000]],
  ['demo',
   'INSERT INTO orders (id, order_number, customer_id, status, total_pence) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (order_number) DO NOTHING',
   ['d0000000-0000-4000-8000-000000000003', 'LW-0000000003', 'a0000000-0000-4000-8000-000000000005', 'CANCELLED', 265000]],
  ['minimal',
   'INSERT INTO order_items (id, order_id, product_sku, quantity, unit_price_pence) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING',
   ['e0000000-0000-4000-8000-000000000001', 'd0000000-0000-4000-8000-000000000001', 'LW-K-LUNA', 1, 895000]],
  ['standard',
   'INSERT INTO order_items (id, order_id, product_sku, quantity, unit_price_pence) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING',
   ['e0000000-0000-4000-8000-000000000002', 'd0000000-0000-4000-8000-000000000002', 'LW-B-ASTRA', 1, 420000]],
  ['minimal',
   'INSERT INTO payments (id, order_id, stripe_payment_intent_id, status, amount_pence) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING',
   ['f0000000-0000-4000-8000-000000000001', 'd0000000-0000-4000-8000-000000000001', 'pi_seed_0000000001', 'SUCCEEDED', 895000]],
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
