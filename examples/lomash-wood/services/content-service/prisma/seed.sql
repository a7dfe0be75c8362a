-- content-service development seed. Plain SQL, idempotent: a second run adds no rows.
-- Run as lomash_content in lomash_content (psql -v ON_ERROR_STOP=1 -f, or psycopg: no psql meta-commands).
-- Media rows point at keys in the LocalStack buckets lomash-dev-media / lomash-dev-assets.

INSERT INTO media (bucket, key, content_type, size_bytes, alt_text, on_media_wall) VALUES
  ('lomash-dev-media',  'media-wall/windsor-sage-kitchen.jpg',  'image/jpeg',      482113, 'Windsor shaker kitchen in sage green',   true),
  ('lomash-dev-media',  'media-wall/luna-graphite-kitchen.jpg', 'image/jpeg',      517820, 'Luna handleless kitchen in graphite',    true),
  ('lomash-dev-media',  'blog/small-kitchen-ideas.jpg',         'image/jpeg',      301455, 'A compact galley kitchen',               false),
  ('lomash-dev-assets', 'brochures/kitchens-2026.pdf',          'application/pdf', 8843120, 'Lomash Wood kitchens brochure 2026',    false)
ON CONFLICT (bucket, key) DO NOTHING;

INSERT INTO pages (slug, title, template, body, status, is_landing, published_at) VALUES
  ('home',          'Lomash Wood - Kitchens and Bedrooms', 'home',    '{"hero": {"heading": "Designed around you", "cta": "/book-appointment"}}', 'PUBLISHED', false, TIMESTAMPTZ '2026-01-01 00:00:00+00'),
  ('about-us',      'About Lomash Wood',                   'default', '{"sections": ["story", "craftsmanship", "showrooms"]}',                   'PUBLISHED', false, TIMESTAMPTZ '2026-01-01 00:00:00+00'),
  ('kitchen-sale',  'Winter Kitchen Sale',                 'landing', '{"offer": "Up to 30% off selected ranges", "ends": "2026-02-28"}',        'PUBLISHED', true,  TIMESTAMPTZ '2026-01-10 00:00:00+00'),
  ('free-brochure', 'Order a free brochure',               'landing', '{"form": "brochure", "asset": "brochures/kitchens-2026.pdf"}',             'DRAFT',     true,  NULL)
ON CONFLICT (slug) DO NOTHING;

INSERT INTO seo_meta (page_id, meta_title, meta_description, canonical_url, no_index)
SELECT p.id, v.meta_title, v.meta_description, v.canonical_url, v.no_index
FROM (VALUES
  ('home',          'Fitted Kitchens & Bedrooms | Lomash Wood', 'Made-to-measure kitchens and bedrooms, designed in our showrooms.', 'https://www.lomashwood.co.uk/',              false),
  ('about-us',      'About Us | Lomash Wood',                   'Our story, our craftsmanship and our showrooms.',                    'https://www.lomashwood.co.uk/about-us',      false),
  ('kitchen-sale',  'Winter Kitchen Sale | Lomash Wood',        'Up to 30% off selected kitchen ranges until 28 February.',           'https://www.lomashwood.co.uk/kitchen-sale',  false),
  ('free-brochure', 'Free Brochure | Lomash Wood',              NULL,                                                                 NULL,                                          true)
) AS v(slug, meta_title, meta_description, canonical_url, no_index)
JOIN pages p ON p.slug = v.slug
ON CONFLICT (page_id) DO NOTHING;

INSERT INTO blog_posts (slug, title, excerpt, body, author, tags, cover_media_id, status, published_at)
SELECT v.slug, v.title, v.excerpt, v.body, v.author, v.tags, m.id, v.status::"PublishStatus", v.published_at::timestamptz
FROM (VALUES
  ('small-kitchen-ideas',   '10 ideas for a small kitchen',         'Make every centimetre count.',          'Tall larders, slim drawers and light colours...', 'Olivia Hart', ARRAY['kitchens', 'ideas'],   'blog/small-kitchen-ideas.jpg',        'PUBLISHED', '2026-01-08 09:00:00+00'),
  ('shaker-vs-handleless',  'Shaker or handleless: which suits you?', 'Two styles, two ways of living.',     'A shaker door frames its panel; a handleless...', 'Aisha Khan',  ARRAY['kitchens', 'style'],   'media-wall/luna-graphite-kitchen.jpg','PUBLISHED', '2026-01-15 09:00:00+00'),
  ('planning-a-wardrobe',   'Planning a fitted wardrobe',           'Measure twice, hang once.',             'Start with what you own, not with the doors...',  'Marcus Reed', ARRAY['bedrooms', 'how-to'],  NULL,                                  'DRAFT',     NULL)
) AS v(slug, title, excerpt, body, author, tags, cover_key, status, published_at)
LEFT JOIN media m ON m.bucket = 'lomash-dev-media' AND m.key = v.cover_key
ON CONFLICT (slug) DO NOTHING;

INSERT INTO redirects (from_path, to_path, status_code) VALUES
  ('/kitchens/sale', '/kitchen-sale', 301),
  ('/brochure',      '/free-brochure', 302)
ON CONFLICT (from_path) DO NOTHING;
