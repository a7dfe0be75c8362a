// content-service development seed: CMS pages, blog posts and media, idempotent (a second run
// inserts nothing: every insert is ON CONFLICT DO NOTHING). Run by `prisma db seed`
// (prisma.config.ts "migrations.seed"). It connects as the service's own role, on its own
// database (DATABASE_URL). SEED_PROFILE: minimal | standard (default) | demo.
import 'dotenv/config';
import { Client } from 'pg';

const SERVICE = 'content-service';
const PROFILES = ['minimal', 'standard', 'demo'] as const;
type Profile = (typeof PROFILES)[number];

// [the first profile that includes the row, statement, parameters]
const ROWS: Array<[Profile, string, unknown[]]> = [
  ['minimal',
   "INSERT INTO pages (slug, title, body, status, published_at) VALUES ($1, $2, $3, 'PUBLISHED', now()) ON CONFLICT (slug) DO NOTHING",
   ['about-us', 'About Lomash Wood', 'Family-run kitchen and bedroom makers since 1998.']],
  ['standard',
   "INSERT INTO pages (slug, title, body, status, published_at) VALUES ($1, $2, $3, 'PUBLISHED', now()) ON CONFLICT (slug) DO NOTHING",
   ['finance', 'Finance options', 'Spread the cost of your kitchen over up to five years.']],
  ['standard',
   "INSERT INTO blog_posts (slug, title, excerpt, body, tags, status, published_at) VALUES ($1, $2, $3, $4, $5, 'PUBLISHED', now()) ON CONFLICT (slug) DO NOTHING",
   ['shaker-kitchens-guide', 'A guide to shaker kitchens', 'Why the shaker door never dates.', 'Long-form body text.', ['kitchens', 'guides']]],
  ['demo',
   "INSERT INTO blog_posts (slug, title, excerpt, body, tags, status) VALUES ($1, $2, $3, $4, $5, 'DRAFT') ON CONFLICT (slug) DO NOTHING",
   ['small-bedroom-storage', 'Storage ideas for small bedrooms', 'Fitted furniture for awkward rooms.', 'Draft body text.', ['bedrooms']]],
  ['standard',
   'INSERT INTO media_assets (bucket, key, mime_type, alt_text) VALUES ($1, $2, $3, $4) ON CONFLICT (bucket, key) DO NOTHING',
   ['lomash-wood-content-media', 'media-wall/luna-kitchen.jpg', 'image/jpeg', 'Luna shaker kitchen in sage green']],
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
