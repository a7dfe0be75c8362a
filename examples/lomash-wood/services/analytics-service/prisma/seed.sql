-- analytics-service development seed. Plain SQL, idempotent: a second run adds no rows.
-- Run as lomash_analytics in lomash_analytics (psql -v ON_ERROR_STOP=1 -f, or psycopg: no psql meta-commands).

INSERT INTO funnels (key, name, description) VALUES
  ('booking',  'Appointment booking', 'From a product page to a confirmed appointment'),
  ('checkout', 'Checkout',            'From the basket to a successful payment')
ON CONFLICT (key) DO NOTHING;

INSERT INTO funnel_steps (funnel_id, position, event_name)
SELECT f.id, v.position, v.event_name
FROM (VALUES
  ('booking',  1, 'product_viewed'),
  ('booking',  2, 'booking_started'),
  ('booking',  3, 'booking_confirmed'),
  ('checkout', 1, 'basket_viewed'),
  ('checkout', 2, 'checkout_started'),
  ('checkout', 3, 'payment_succeeded')
) AS v(funnel_key, position, event_name)
JOIN funnels f ON f.key = v.funnel_key
ON CONFLICT (funnel_id, position) DO NOTHING;

INSERT INTO events (event_id, name, session_id, user_id, source, properties, occurred_at) VALUES
  ('e0000000-0000-4000-8000-000000000001', 'product_viewed',    'sess-seed-001', 'a0000000-0000-4000-8000-000000000003', 'web', '{"sku": "LW-K-SHK-001"}',             TIMESTAMPTZ '2026-01-05 09:50:00+00'),
  ('e0000000-0000-4000-8000-000000000002', 'basket_viewed',     'sess-seed-001', 'a0000000-0000-4000-8000-000000000003', 'web', '{"items": 1}',                         TIMESTAMPTZ '2026-01-05 10:10:00+00'),
  ('e0000000-0000-4000-8000-000000000003', 'checkout_started',  'sess-seed-001', 'a0000000-0000-4000-8000-000000000003', 'web', '{"total": "8950.00"}',                 TIMESTAMPTZ '2026-01-05 10:12:00+00'),
  ('e0000000-0000-4000-8000-000000000004', 'payment_succeeded', 'sess-seed-001', 'a0000000-0000-4000-8000-000000000003', 'api', '{"order": "LW-2026-000101"}',          TIMESTAMPTZ '2026-01-05 10:15:30+00'),
  ('e0000000-0000-4000-8000-000000000005', 'product_viewed',    'sess-seed-002', NULL,                                   'web', '{"sku": "LW-B-WRD-001"}',             TIMESTAMPTZ '2026-01-07 15:58:00+00'),
  ('e0000000-0000-4000-8000-000000000006', 'booking_started',   'sess-seed-002', NULL,                                   'web', '{"type": "HOME_MEASURE"}',            TIMESTAMPTZ '2026-01-07 16:02:00+00')
ON CONFLICT (event_id) DO NOTHING;

INSERT INTO daily_metrics (day, metric, dimension, value) VALUES
  (DATE '2026-01-05', 'page_views',        'all',  1843),
  (DATE '2026-01-05', 'orders',            'all',  1),
  (DATE '2026-01-05', 'revenue_pence',     'GBP',  895000),
  (DATE '2026-01-07', 'page_views',        'all',  1622),
  (DATE '2026-01-07', 'bookings_started',  'all',  4)
ON CONFLICT (day, metric, dimension) DO NOTHING;

INSERT INTO dashboards (slug, title, widgets) VALUES
  ('overview', 'Overview',      '[{"type": "metric", "metric": "page_views"}, {"type": "metric", "metric": "orders"}, {"type": "funnel", "funnel": "checkout"}]'),
  ('bookings', 'Appointments',  '[{"type": "funnel", "funnel": "booking"}, {"type": "metric", "metric": "bookings_started"}]')
ON CONFLICT (slug) DO NOTHING;
