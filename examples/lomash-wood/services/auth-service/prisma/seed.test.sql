-- auth-service seed for the `test` profile (`inv db.seed --profile test`, and every
-- `inv db.reset --env test` / `inv test` run): the few known rows the e2e tests start from.
-- Plain SQL, idempotent. Passwords are 'e2e-password', hashed with a low bcrypt cost (4) so
-- that a reset before every e2e run stays fast.

INSERT INTO roles (name, description, permissions) VALUES
  ('admin',    'Full access to the back office', ARRAY['*']),
  ('customer', 'Registered customers',           ARRAY['self:*'])
ON CONFLICT (name) DO NOTHING;

INSERT INTO users (id, email, email_verified, name, status) VALUES
  ('e2e00000-0000-4000-8000-000000000001', 'e2e.admin@lomashwood.test',    true, 'E2E Admin',    'ACTIVE'),
  ('e2e00000-0000-4000-8000-000000000002', 'e2e.customer@lomashwood.test', true, 'E2E Customer', 'ACTIVE')
ON CONFLICT (email) DO NOTHING;

INSERT INTO accounts (user_id, provider_id, account_id, password_hash)
SELECT u.id, 'credential', u.email::text, crypt('e2e-password', gen_salt('bf', 4))
FROM users u WHERE u.email IN ('e2e.admin@lomashwood.test', 'e2e.customer@lomashwood.test')
ON CONFLICT (provider_id, account_id) DO NOTHING;

INSERT INTO user_roles (user_id, role_id)
SELECT u.id, r.id
FROM (VALUES ('e2e.admin@lomashwood.test', 'admin'),
             ('e2e.customer@lomashwood.test', 'customer')) AS v(email, role)
JOIN users u ON u.email = v.email::citext
JOIN roles r ON r.name = v.role
ON CONFLICT (user_id, role_id) DO NOTHING;
