-- notification-service development seed. Plain SQL, idempotent: a second run adds no rows.
-- Run as lomash_notification in lomash_notifications (psql -v ON_ERROR_STOP=1 -f, or psycopg: no psql meta-commands).

INSERT INTO templates (code, channel, subject, body, locale) VALUES
  ('booking-confirmation', 'EMAIL', 'Your Lomash Wood appointment is confirmed', 'Hello {{name}}, we look forward to seeing you on {{date}} at {{showroom}}.', 'en-GB'),
  ('booking-confirmation', 'SMS',   NULL,                                        'Lomash Wood: appointment confirmed for {{date}}. Reply STOP to opt out.',    'en-GB'),
  ('brochure-delivery',    'EMAIL', 'Your Lomash Wood brochure',                 'Hello {{name}}, your brochure is ready: {{link}}',                            'en-GB'),
  ('payment-receipt',      'EMAIL', 'Payment received - order {{orderNumber}}',  'Thank you. We have received {{amount}} for order {{orderNumber}}.',           'en-GB'),
  ('order-dispatched',     'PUSH',  'Your order is on its way',                  'Order {{orderNumber}} has been dispatched.',                                   'en-GB')
ON CONFLICT (code, channel, locale) DO NOTHING;

INSERT INTO preferences (recipient, channel, opted_in) VALUES
  ('sarah.ahmed@example.com',  'EMAIL', true),
  ('+447700900123',            'SMS',   true),
  ('james.wilson@example.com', 'EMAIL', false)
ON CONFLICT (recipient, channel) DO NOTHING;

INSERT INTO messages (dedupe_key, template_id, channel, recipient, subject, payload)
SELECT v.dedupe_key, t.id, v.channel::"Channel", v.recipient, v.subject, v.payload::jsonb
FROM (VALUES
  ('booking:BK-2026-0001:email',  'booking-confirmation', 'EMAIL', 'sarah.ahmed@example.com', 'Your Lomash Wood appointment is confirmed', '{"name": "Sarah", "date": "2 February 2026, 10:00", "showroom": "London Showroom"}'),
  ('booking:BK-2026-0001:sms',    'booking-confirmation', 'SMS',   '+447700900123',           NULL,                                        '{"date": "2 February 2026, 10:00"}'),
  ('receipt:LW-2026-000101',      'payment-receipt',      'EMAIL', 'sarah.ahmed@example.com', 'Payment received - order LW-2026-000101',   '{"orderNumber": "LW-2026-000101", "amount": "£8,950.00"}')
) AS v(dedupe_key, template_code, channel, recipient, subject, payload)
JOIN templates t ON t.code = v.template_code AND t.channel = v.channel::"Channel" AND t.locale = 'en-GB'
ON CONFLICT (dedupe_key) DO NOTHING;

INSERT INTO deliveries (message_id, attempt, provider, provider_message_id, status, error)
SELECT m.id, v.attempt, v.provider, v.provider_message_id, v.status::"DeliveryStatus", v.error
FROM (VALUES
  ('booking:BK-2026-0001:email', 1, 'ses', '0100018d-seed-0001', 'DELIVERED', NULL),
  ('booking:BK-2026-0001:sms',   1, 'log', NULL,                 'SENT',      NULL),
  ('receipt:LW-2026-000101',     1, 'ses', NULL,                 'FAILED',    'Throttling: Maximum sending rate exceeded'),
  ('receipt:LW-2026-000101',     2, 'ses', '0100018d-seed-0002', 'DELIVERED', NULL)
) AS v(dedupe_key, attempt, provider, provider_message_id, status, error)
JOIN messages m ON m.dedupe_key = v.dedupe_key
ON CONFLICT (message_id, attempt) DO NOTHING;
