-- order-payment-service development seed. Plain SQL, idempotent: a second run adds no rows.
-- Run as lomash_order in lomash_orders (psql -v ON_ERROR_STOP=1 -f, or psycopg: no psql meta-commands).
-- customer_id values are the user ids seeded by auth-service.

INSERT INTO orders (order_number, customer_id, status, currency, subtotal, tax, total, shipping_address, placed_at) VALUES
  ('LW-2026-000101', 'a0000000-0000-4000-8000-000000000003', 'PAID',      'GBP', 7458.33, 1491.67, 8950.00,
   '{"line1": "12 Elm Road", "city": "Leeds", "postcode": "LS6 2AB", "country": "GB"}', TIMESTAMPTZ '2026-01-05 10:15:00+00'),
  ('LW-2026-000102', 'a0000000-0000-4000-8000-000000000004', 'PENDING',   'GBP', 2666.67,  533.33, 3200.00,
   '{"line1": "4 Mill Lane", "city": "Manchester", "postcode": "M4 1HN", "country": "GB"}', TIMESTAMPTZ '2026-01-07 16:40:00+00'),
  ('LW-2026-000103', 'a0000000-0000-4000-8000-000000000003', 'REFUNDED',  'GBP', 3416.67,  683.33, 4100.00,
   '{"line1": "12 Elm Road", "city": "Leeds", "postcode": "LS6 2AB", "country": "GB"}', TIMESTAMPTZ '2026-01-09 09:05:00+00')
ON CONFLICT (order_number) DO NOTHING;

INSERT INTO order_items (order_id, product_sku, name, quantity, unit_price)
SELECT o.id, v.sku, v.name, v.quantity, v.unit_price::numeric
FROM (VALUES
  ('LW-2026-000101', 'LW-K-SHK-001-SAG', 'Windsor Shaker Kitchen - Sage Green', 1, '8950.00'),
  ('LW-2026-000102', 'LW-B-WRD-001-POR', 'Oxford Fitted Wardrobe - Porcelain White', 1, '3200.00'),
  ('LW-2026-000103', 'LW-B-WRD-002-GRA', 'Sliding Glass Wardrobe - Graphite', 1, '4100.00')
) AS v(order_number, sku, name, quantity, unit_price)
JOIN orders o ON o.order_number = v.order_number
ON CONFLICT (order_id, product_sku) DO NOTHING;

INSERT INTO payments (order_id, stripe_payment_intent_id, status, amount, currency)
SELECT o.id, v.pi, v.status::"PaymentStatus", v.amount::numeric, 'GBP'
FROM (VALUES
  ('LW-2026-000101', 'pi_seed_000000000000000101', 'SUCCEEDED',               '8950.00'),
  ('LW-2026-000102', 'pi_seed_000000000000000102', 'REQUIRES_PAYMENT_METHOD', '3200.00'),
  ('LW-2026-000103', 'pi_seed_000000000000000103', 'REFUNDED',                '4100.00')
) AS v(order_number, pi, status, amount)
JOIN orders o ON o.order_number = v.order_number
ON CONFLICT (stripe_payment_intent_id) DO NOTHING;

INSERT INTO invoices (order_id, invoice_number, pdf_key, issued_at, due_at)
SELECT o.id, v.invoice_number, v.pdf_key, v.issued_at::timestamptz, v.due_at::timestamptz
FROM (VALUES
  ('LW-2026-000101', 'INV-2026-0101', 'invoices/INV-2026-0101.pdf', '2026-01-05 10:16:00+00', '2026-02-04 00:00:00+00'),
  ('LW-2026-000103', 'INV-2026-0103', 'invoices/INV-2026-0103.pdf', '2026-01-09 09:06:00+00', '2026-02-08 00:00:00+00')
) AS v(order_number, invoice_number, pdf_key, issued_at, due_at)
JOIN orders o ON o.order_number = v.order_number
ON CONFLICT (invoice_number) DO NOTHING;

INSERT INTO refunds (payment_id, stripe_refund_id, amount, reason, status)
SELECT p.id, 're_seed_000000000000000103', 4100.00, 'requested_by_customer', 'SUCCEEDED'
FROM payments p WHERE p.stripe_payment_intent_id = 'pi_seed_000000000000000103'
ON CONFLICT (stripe_refund_id) DO NOTHING;

INSERT INTO stripe_webhook_events (id, type, received_at, processed_at) VALUES
  ('evt_seed_payment_succeeded_101', 'payment_intent.succeeded', TIMESTAMPTZ '2026-01-05 10:15:30+00', TIMESTAMPTZ '2026-01-05 10:15:31+00'),
  ('evt_seed_charge_refunded_103',   'charge.refunded',          TIMESTAMPTZ '2026-01-12 11:00:00+00', TIMESTAMPTZ '2026-01-12 11:00:01+00')
ON CONFLICT (id) DO NOTHING;
