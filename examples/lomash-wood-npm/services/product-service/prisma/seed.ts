// product-service development seed: categories, colours, products and their stock, idempotent (a
// second run inserts nothing: every insert is ON CONFLICT DO NOTHING). Run by `prisma db seed`
// (package.json "prisma.seed") or `npm run prisma:seed`. It connects as the service's own role,
// on its own database (DATABASE_URL). SEED_PROFILE: minimal | standard (default) | demo.
import 'dotenv/config';
import { Client } from 'pg';

const SERVICE = 'product-service';
const PROFILES = ['minimal', 'standard', 'demo'] as const;
type Profile = (typeof PROFILES)[number];

// [the first profile that includes the row, statement, parameters]
const ROWS: Array<[Profile, string, unknown[]]> = [
  ['minimal',
   'INSERT INTO categories (id, slug, name, type) VALUES ($1, $2, $3, $4) ON CONFLICT (slug) DO NOTHING',
   ['c0000000-0000-4000-8000-000000000001', 'kitchens', 'Kitchens', 'KITCHEN']],
  ['minimal',
   'INSERT INTO categories (id, slug, name, type) VALUES ($1, $2, $3, $4) ON CONFLICT (slug) DO NOTHING',
   ['c0000000-0000-4000-8000-000000000002', 'bedrooms', 'Bedrooms', 'BEDROOM']],
  ['standard',
   'INSERT INTO colours (name, hex_code) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING',
   ['Dove Grey', '#8E8D8A']],
  ['standard',
   'INSERT INTO colours (name, hex_code) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING',
   ['Sage Green', '#9CAF88']],
  ['standard',
   'INSERT INTO colours (name, hex_code) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING',
   ['Midnight Blue', '#191970']],
  ['minimal',
   'INSERT INTO products (id, sku, slug, name, description, category_id, price_from, is_published) VALUES ($1, $2, $3, $4, $5, $6, $7, true) ON CONFLICT (sku) DO NOTHING',
   ['b0000000-0000-4000-8000-000000000001', 'LW-K-LUNA', 'luna-shaker-kitchen', 'Luna Shaker Kitchen', 'A classic shaker kitchen in painted oak.', 'c0000000-0000-4000-8000-000000000001', '8950.00']],
  ['standard',
   'INSERT INTO products (id, sku, slug, name, description, category_id, price_from, is_published) VALUES ($1, $2, $3, $4, $5, $6, $7, true) ON CONFLICT (sku) DO NOTHING',
   ['b0000000-0000-4000-8000-000000000002', 'LW-K-HAVEN', 'haven-handleless-kitchen', 'Haven Handleless Kitchen', 'Handleless gloss doors with integrated rails.', 'c0000000-0000-4000-8000-000000000001', '10450.00']],
  ['standard',
   'INSERT INTO products (id, sku, slug, name, description, category_id, price_from, is_published) VALUES ($1, $2, $3, $4, $5, $6, $7, true) ON CONFLICT (sku) DO NOTHING',
   ['b0000000-0000-4000-8000-000000000003', 'LW-B-ASTRA', 'astra-fitted-bedroom', 'Astra Fitted Bedroom', 'Floor-to-ceiling fitted wardrobes.', 'c0000000-0000-4000-8000-000000000002', '4200.00']],
  ['demo',
   'INSERT INTO products (id, sku, slug, name, description, category_id, price_from, is_published) VALUES ($1, $2, $3, $4, $5, $6, $7, false) ON CONFLICT (sku) DO NOTHING',
   ['b0000000-0000-4000-8000-000000000004', 'LW-B-NOVA', 'nova-sliding-wardrobe', 'Nova Sliding Wardrobe', 'Mirrored sliding doors (not yet published).', 'c0000000-0000-4000-8000-000000000002', '2650.00']],
  ['standard',
   'INSERT INTO product_colours (product_id, colour_id) SELECT $1, id FROM colours WHERE name = $2 ON CONFLICT DO NOTHING',
   ['b0000000-0000-4000-8000-000000000001', 'Sage Green']],
  ['standard',
   'INSERT INTO product_colours (product_id, colour_id) SELECT $1, id FROM colours WHERE name = $2 ON CONFLICT DO NOTHING',
   ['b0000000-0000-4000-8000-000000000002', 'Midnight Blue']],
  ['minimal',
   'INSERT INTO inventory (product_id, on_hand) VALUES ($1, $2) ON CONFLICT (product_id) DO NOTHING',
   ['b0000000-0000-4000-8000-000000000001', 12]],
  ['standard',
   'INSERT INTO inventory (product_id, on_hand) VALUES ($1, $2) ON CONFLICT (product_id) DO NOTHING',
   ['b0000000-0000-4000-8000-000000000002', 5]],
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
