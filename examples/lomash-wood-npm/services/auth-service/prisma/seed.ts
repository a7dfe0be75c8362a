// auth-service development seed: roles and a few users, idempotent (a second run inserts
// nothing). Run by `prisma db seed` (package.json "prisma.seed") or `npm run db:seed`, as the
// service's own role, on its own database (DATABASE_URL). SEED_PROFILE: minimal | standard
// (default) | demo. Every seeded login uses the password 'changeme_local'.
import 'dotenv/config';
import { Client } from 'pg';

const SERVICE = 'auth-service';
const PROFILES = ['minimal', 'standard', 'demo'] as const;
type Profile = (typeof PROFILES)[number];

const ROLES: Array<[string, string, string[]]> = [
  ['admin', 'Full access to the back office', ['*']],
  ['staff', 'Showroom and customer-service staff', ['orders:read', 'orders:write', 'appointments:*']],
  ['consultant', 'Design consultants taking appointments', ['appointments:read', 'appointments:write']],
  ['customer', 'Registered customers', ['self:*']],
];

// [id, email, first name, last name, role, profile that first includes it]
const USERS: Array<[string, string, string, string, string, Profile]> = [
  ['a0000000-0000-4000-8000-000000000001', 'admin@lomashwood.local', 'Lomash', 'Admin', 'admin', 'minimal'],
  ['a0000000-0000-4000-8000-000000000002', 'staff@lomashwood.local', 'Hannah', 'Brooks', 'staff', 'standard'],
  ['a0000000-0000-4000-8000-000000000003', 'sarah.ahmed@example.com', 'Sarah', 'Ahmed', 'customer', 'standard'],
  ['a0000000-0000-4000-8000-000000000004', 'james.wilson@example.com', 'James', 'Wilson', 'customer', 'standard'],
  ['a0000000-0000-4000-8000-000000000005', 'priya.patel@example.com', 'Priya', 'Patel', 'customer', 'demo'],
  ['a0000000-0000-4000-8000-000000000006', 'tom.evans@example.com', 'Tom', 'Evans', 'consultant', 'demo'],
];

function profile(): Profile {
  const value = (process.env.SEED_PROFILE || 'standard').trim().toLowerCase();
  if (!(PROFILES as readonly string[]).includes(value)) {
    throw new Error(`SEED_PROFILE=${value} is not one of ${PROFILES.join(', ')}`);
  }
  return value as Profile;
}

const included = (wanted: Profile, first: Profile) => PROFILES.indexOf(first) <= PROFILES.indexOf(wanted);

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is not set');
  const chosen = profile();
  const client = new Client({ connectionString: url });
  await client.connect();
  let inserted = 0;
  try {
    await client.query('BEGIN');
    for (const [name, description, permissions] of ROLES) {
      const res = await client.query(
        'INSERT INTO roles (name, description, permissions) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING',
        [name, description, permissions]);
      inserted += res.rowCount ?? 0;
    }
    for (const [id, email, first, last, role, from] of USERS) {
      if (!included(chosen, from)) continue;
      const user = await client.query(
        `INSERT INTO users (id, email, password_hash, first_name, last_name, status, email_verified)
         VALUES ($1, $2, crypt('changeme_local', gen_salt('bf', 8)), $3, $4, 'ACTIVE', true)
         ON CONFLICT (email) DO NOTHING`,
        [id, email, first, last]);
      inserted += user.rowCount ?? 0;
      const link = await client.query(
        `INSERT INTO user_roles (user_id, role_id)
         SELECT u.id, r.id FROM users u, roles r WHERE u.email = $1 AND r.name = $2
         ON CONFLICT DO NOTHING`,
        [email, role]);
      inserted += link.rowCount ?? 0;
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
