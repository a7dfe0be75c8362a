-- appointment-service development seed. Plain SQL, idempotent: a second run adds no rows.
-- Run as lomash_appointment in lomash_appointments (psql -v ON_ERROR_STOP=1 -f, or psycopg: no psql meta-commands).

INSERT INTO showrooms (code, name, address, postcode, phone) VALUES
  ('LDN', 'London Showroom',     '221 Kings Road, London',         'SW3 5EL', '+44 20 7946 0100'),
  ('MAN', 'Manchester Showroom', '18 Deansgate, Manchester',       'M3 1AZ',  '+44 161 496 0200')
ON CONFLICT (code) DO NOTHING;

INSERT INTO consultants (email, name, showroom_id, specialisms)
SELECT v.email, v.name, s.id, v.specialisms
FROM (VALUES
  ('olivia.hart@lomashwood.local',  'Olivia Hart',  'LDN', ARRAY['kitchens', 'handleless']),
  ('marcus.reed@lomashwood.local',  'Marcus Reed',  'LDN', ARRAY['bedrooms', 'wardrobes']),
  ('aisha.khan@lomashwood.local',   'Aisha Khan',   'MAN', ARRAY['kitchens', 'shaker', 'bedrooms'])
) AS v(email, name, showroom_code, specialisms)
JOIN showrooms s ON s.code = v.showroom_code
ON CONFLICT (email) DO NOTHING;

-- Monday to Friday, 09:00-13:00 and 14:00-18:00 for every consultant
INSERT INTO availability (consultant_id, weekday, starts_at, ends_at)
SELECT c.id, d.weekday, b.starts_at, b.ends_at
FROM consultants c
CROSS JOIN generate_series(1, 5) AS d(weekday)
CROSS JOIN (VALUES (TIME '09:00', TIME '13:00'), (TIME '14:00', TIME '18:00')) AS b(starts_at, ends_at)
WHERE c.email IN ('olivia.hart@lomashwood.local', 'marcus.reed@lomashwood.local', 'aisha.khan@lomashwood.local')
ON CONFLICT (consultant_id, weekday, starts_at) DO NOTHING;

INSERT INTO bookings (reference, customer_id, customer_name, customer_email, type, status,
                      consultant_id, showroom_id, starts_at, ends_at, postcode, notes)
SELECT v.reference, v.customer_id::uuid, v.customer_name, v.customer_email, v.type::"AppointmentType",
       v.status::"BookingStatus", c.id, s.id, v.starts_at::timestamptz, v.ends_at::timestamptz, v.postcode, v.notes
FROM (VALUES
  ('BK-2026-0001', 'a0000000-0000-4000-8000-000000000003', 'Sarah Ahmed',  'sarah.ahmed@example.com',  'SHOWROOM',     'CONFIRMED',
   'olivia.hart@lomashwood.local', 'LDN', '2026-02-02 10:00:00+00', '2026-02-02 11:00:00+00', 'LS6 2AB', 'Interested in the Windsor range'),
  ('BK-2026-0002', 'a0000000-0000-4000-8000-000000000004', 'James Wilson', 'james.wilson@example.com', 'HOME_MEASURE', 'REQUESTED',
   'aisha.khan@lomashwood.local',  'MAN', '2026-02-03 14:00:00+00', '2026-02-03 15:00:00+00', 'M4 1HN',  'Loft bedroom, sloping ceiling'),
  ('BK-2026-0003', NULL,                                   'Tom Baker',    'tom.baker@example.com',    'VIRTUAL',      'COMPLETED',
   'marcus.reed@lomashwood.local', NULL,  '2026-01-20 16:00:00+00', '2026-01-20 16:45:00+00', 'BS1 4DJ',  NULL)
) AS v(reference, customer_id, customer_name, customer_email, type, status, consultant_email, showroom_code, starts_at, ends_at, postcode, notes)
LEFT JOIN consultants c ON c.email = v.consultant_email
LEFT JOIN showrooms s ON s.code = v.showroom_code
ON CONFLICT (reference) DO NOTHING;
