-- customer-service development seed. Plain SQL, idempotent: a second run adds no rows.
-- Run as lomash_customer in lomash_customers (psql -v ON_ERROR_STOP=1 -f, or psycopg: no psql meta-commands).
-- user_id values are the user ids seeded by auth-service.

INSERT INTO customer_profiles (id, user_id, email, first_name, last_name, phone, postcode, marketing_opt_in) VALUES
  ('c0000000-0000-4000-8000-000000000003', 'a0000000-0000-4000-8000-000000000003', 'sarah.ahmed@example.com',  'Sarah', 'Ahmed',  '+44 7700 900123', 'LS6 2AB', true),
  ('c0000000-0000-4000-8000-000000000004', 'a0000000-0000-4000-8000-000000000004', 'james.wilson@example.com', 'James', 'Wilson', '+44 7700 900456', 'M4 1HN',  false),
  ('c0000000-0000-4000-8000-000000000005', 'a0000000-0000-4000-8000-000000000005', 'priya.patel@example.com',  'Priya', 'Patel',  NULL,              'B15 2TT', true)
ON CONFLICT (email) DO NOTHING;

INSERT INTO addresses (customer_id, label, line1, line2, city, postcode, is_default)
SELECT c.id, v.label, v.line1, v.line2, v.city, v.postcode, v.is_default
FROM (VALUES
  ('sarah.ahmed@example.com',  'home', '12 Elm Road',  NULL,        'Leeds',      'LS6 2AB', true),
  ('sarah.ahmed@example.com',  'work', '1 Park Row',   'Floor 4',   'Leeds',      'LS1 5AB', false),
  ('james.wilson@example.com', 'home', '4 Mill Lane',  NULL,        'Manchester', 'M4 1HN',  true),
  ('priya.patel@example.com',  'home', '77 Harborne Road', 'Flat 2', 'Birmingham', 'B15 2TT', true)
) AS v(email, label, line1, line2, city, postcode, is_default)
JOIN customer_profiles c ON c.email = v.email::citext
ON CONFLICT (customer_id, label) DO NOTHING;

INSERT INTO wishlist_items (customer_id, product_sku)
SELECT c.id, v.sku
FROM (VALUES
  ('sarah.ahmed@example.com',  'LW-K-HDL-001-GRA'),
  ('sarah.ahmed@example.com',  'LW-B-WRD-001-OAK'),
  ('priya.patel@example.com',  'LW-K-SHK-002-NAV')
) AS v(email, sku)
JOIN customer_profiles c ON c.email = v.email::citext
ON CONFLICT (customer_id, product_sku) DO NOTHING;

INSERT INTO reviews (customer_id, product_sku, rating, title, body, approved)
SELECT c.id, v.sku, v.rating, v.title, v.body, v.approved
FROM (VALUES
  ('sarah.ahmed@example.com',  'LW-K-SHK-001-SAG', 5, 'Beautiful kitchen',   'Fitted in three days, the sage green is gorgeous.', true),
  ('james.wilson@example.com', 'LW-B-WRD-001-POR', 4, 'Great storage',       'Solid build; the lighting is a lovely touch.',      true),
  ('priya.patel@example.com',  'LW-K-SHK-002-NAV', 3, 'Waiting on a survey', 'Good showroom visit, survey still to book.',        false)
) AS v(email, sku, rating, title, body, approved)
JOIN customer_profiles c ON c.email = v.email::citext
ON CONFLICT (customer_id, product_sku) DO NOTHING;

INSERT INTO loyalty_accounts (customer_id, points, tier)
SELECT c.id, v.points, v.tier::"LoyaltyTier"
FROM (VALUES
  ('sarah.ahmed@example.com',  8950, 'GOLD'),
  ('james.wilson@example.com',    0, 'BRONZE'),
  ('priya.patel@example.com',   250, 'BRONZE')
) AS v(email, points, tier)
JOIN customer_profiles c ON c.email = v.email::citext
ON CONFLICT (customer_id) DO NOTHING;

INSERT INTO loyalty_transactions (customer_id, points, reason, reference)
SELECT c.id, v.points, v.reason, v.reference
FROM (VALUES
  ('sarah.ahmed@example.com', 8950, 'order',    'order:LW-2026-000101'),
  ('sarah.ahmed@example.com', 4100, 'order',    'order:LW-2026-000103'),
  ('sarah.ahmed@example.com', -4100, 'refund',  'refund:LW-2026-000103'),
  ('priya.patel@example.com',  250, 'signup',   'signup:priya.patel@example.com')
) AS v(email, points, reason, reference)
JOIN customer_profiles c ON c.email = v.email::citext
ON CONFLICT (reference) DO NOTHING;
