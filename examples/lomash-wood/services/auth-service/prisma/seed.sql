-- auth-service development seed. Plain SQL, idempotent: a second run adds no rows.
-- Run as lomash_auth in lomash_auth (psql -v ON_ERROR_STOP=1 -f, or psycopg: no psql meta-commands).
-- Every seeded login uses the password 'changeme_local'. The user ids are fixed so that
-- other services' seeds (customers, orders, bookings) can refer to the same people.

INSERT INTO roles (name, description, permissions) VALUES
  ('admin',      'Full access to the back office',           ARRAY['*']),
  ('staff',      'Showroom and customer-service staff',      ARRAY['orders:read', 'orders:write', 'appointments:*', 'content:read']),
  ('consultant', 'Design consultants taking appointments',   ARRAY['appointments:read', 'appointments:write']),
  ('customer',   'Registered customers',                     ARRAY['self:*'])
ON CONFLICT (name) DO NOTHING;

INSERT INTO users (id, email, email_verified, name, phone, status) VALUES
  ('a0000000-0000-4000-8000-000000000001', 'admin@lomashwood.local',    true, 'Lomash Admin',  '+44 20 7946 0001', 'ACTIVE'),
  ('a0000000-0000-4000-8000-000000000002', 'staff@lomashwood.local',    true, 'Hannah Brooks', '+44 20 7946 0002', 'ACTIVE'),
  ('a0000000-0000-4000-8000-000000000003', 'sarah.ahmed@example.com',   true, 'Sarah Ahmed',   '+44 7700 900123', 'ACTIVE'),
  ('a0000000-0000-4000-8000-000000000004', 'james.wilson@example.com',  true, 'James Wilson',  '+44 7700 900456', 'ACTIVE'),
  ('a0000000-0000-4000-8000-000000000005', 'priya.patel@example.com',   false, 'Priya Patel',  NULL,              'PENDING_VERIFICATION')
ON CONFLICT (email) DO NOTHING;

-- Credential accounts (password 'changeme_local', bcrypt via pgcrypto)
INSERT INTO accounts (user_id, provider_id, account_id, password_hash)
SELECT u.id, 'credential', u.email::text, crypt('changeme_local', gen_salt('bf', 10))
FROM users u
WHERE u.email IN ('admin@lomashwood.local', 'staff@lomashwood.local', 'sarah.ahmed@example.com',
                  'james.wilson@example.com', 'priya.patel@example.com')
ON CONFLICT (provider_id, account_id) DO NOTHING;

INSERT INTO user_roles (user_id, role_id)
SELECT u.id, r.id
FROM (VALUES
  ('admin@lomashwood.local',   'admin'),
  ('staff@lomashwood.local',   'staff'),
  ('sarah.ahmed@example.com',  'customer'),
  ('james.wilson@example.com', 'customer'),
  ('priya.patel@example.com',  'customer')
) AS v(email, role)
JOIN users u ON u.email = v.email::citext
JOIN roles r ON r.name = v.role
ON CONFLICT (user_id, role_id) DO NOTHING;

-- A long-lived session for the admin, handy for calling the API by hand in development
INSERT INTO sessions (user_id, token, expires_at, ip_address, user_agent)
SELECT u.id, 'dev-session-admin-0000000000000000', TIMESTAMPTZ '2030-01-01 00:00:00+00', '127.0.0.1', 'seed'
FROM users u WHERE u.email = 'admin@lomashwood.local'
ON CONFLICT (token) DO NOTHING;
