-- product-service development seed. Plain SQL, idempotent: a second run adds no rows.
-- Run as lomash_product in lomash_products (psql -v ON_ERROR_STOP=1 -f, or psycopg: no psql meta-commands).

INSERT INTO categories (slug, name, description, sort_order) VALUES
  ('kitchens', 'Kitchens', 'Fitted kitchens, designed and installed by Lomash Wood', 1),
  ('bedrooms', 'Bedrooms', 'Fitted bedrooms and wardrobes', 2)
ON CONFLICT (slug) DO NOTHING;

INSERT INTO categories (slug, name, description, parent_id, sort_order)
SELECT v.slug, v.name, v.description, p.id, v.sort_order
FROM (VALUES
  ('shaker-kitchens',     'Shaker kitchens',     'Timeless five-piece doors',          'kitchens', 1),
  ('handleless-kitchens', 'Handleless kitchens', 'Clean lines with J-pull rails',      'kitchens', 2),
  ('fitted-wardrobes',    'Fitted wardrobes',    'Floor-to-ceiling storage, made to measure', 'bedrooms', 1)
) AS v(slug, name, description, parent_slug, sort_order)
JOIN categories p ON p.slug = v.parent_slug
ON CONFLICT (slug) DO NOTHING;

INSERT INTO colours (slug, name, hex) VALUES
  ('porcelain-white', 'Porcelain White', '#F4F1EA'),
  ('sage-green',      'Sage Green',      '#9CAF88'),
  ('midnight-navy',   'Midnight Navy',   '#1F2A44'),
  ('graphite',        'Graphite',        '#41424C'),
  ('natural-oak',     'Natural Oak',     '#C8A27A')
ON CONFLICT (slug) DO NOTHING;

INSERT INTO products (sku, slug, name, description, range, status, base_price, category_id, image_keys)
SELECT v.sku, v.slug, v.name, v.description, v.range, v.status::"ProductStatus", v.base_price::numeric, c.id, v.image_keys
FROM (VALUES
  ('LW-K-SHK-001', 'windsor-shaker-kitchen',   'Windsor Shaker Kitchen',   'Classic in-frame shaker with solid oak frames', 'Windsor',  'ACTIVE', '8950.00',  'shaker-kitchens',     ARRAY['products/windsor/hero.jpg']),
  ('LW-K-SHK-002', 'hartley-shaker-kitchen',   'Hartley Shaker Kitchen',   'Slim shaker door in a painted finish',          'Hartley',  'ACTIVE', '7450.00',  'shaker-kitchens',     ARRAY['products/hartley/hero.jpg']),
  ('LW-K-HDL-001', 'luna-handleless-kitchen',  'Luna Handleless Kitchen',  'Matt lacquer handleless kitchen',               'Luna',     'ACTIVE', '9800.00',  'handleless-kitchens', ARRAY['products/luna/hero.jpg']),
  ('LW-K-HDL-002', 'strata-handleless-kitchen','Strata Handleless Kitchen','Super-matt anti-fingerprint handleless kitchen','Strata',   'DRAFT',  '11200.00', 'handleless-kitchens', ARRAY[]::text[]),
  ('LW-B-WRD-001', 'oxford-fitted-wardrobe',   'Oxford Fitted Wardrobe',   'Hinged-door wardrobe with internal lighting',    'Oxford',   'ACTIVE', '3200.00',  'fitted-wardrobes',    ARRAY['products/oxford/hero.jpg']),
  ('LW-B-WRD-002', 'sliding-glass-wardrobe',   'Sliding Glass Wardrobe',   'Bronze-tinted sliding glass doors',             'Reflect',  'ACTIVE', '4100.00',  'fitted-wardrobes',    ARRAY['products/reflect/hero.jpg'])
) AS v(sku, slug, name, description, range, status, base_price, category_slug, image_keys)
JOIN categories c ON c.slug = v.category_slug
ON CONFLICT (sku) DO NOTHING;

INSERT INTO product_variants (product_id, colour_id, sku, finish, price_delta)
SELECT p.id, c.id, v.sku, v.finish, v.price_delta::numeric
FROM (VALUES
  ('LW-K-SHK-001', 'sage-green',      'LW-K-SHK-001-SAG', 'painted', '0'),
  ('LW-K-SHK-001', 'porcelain-white', 'LW-K-SHK-001-POR', 'painted', '0'),
  ('LW-K-SHK-001', 'natural-oak',     'LW-K-SHK-001-OAK', 'oiled',   '650.00'),
  ('LW-K-SHK-002', 'midnight-navy',   'LW-K-SHK-002-NAV', 'painted', '0'),
  ('LW-K-HDL-001', 'graphite',        'LW-K-HDL-001-GRA', 'matt',    '0'),
  ('LW-K-HDL-001', 'porcelain-white', 'LW-K-HDL-001-POR', 'matt',    '0'),
  ('LW-K-HDL-002', 'graphite',        'LW-K-HDL-002-GRA', 'super-matt', '0'),
  ('LW-B-WRD-001', 'porcelain-white', 'LW-B-WRD-001-POR', 'painted', '0'),
  ('LW-B-WRD-001', 'natural-oak',     'LW-B-WRD-001-OAK', 'veneer',  '400.00'),
  ('LW-B-WRD-002', 'graphite',        'LW-B-WRD-002-GRA', 'glass',   '0')
) AS v(product_sku, colour_slug, sku, finish, price_delta)
JOIN products p ON p.sku = v.product_sku
JOIN colours c ON c.slug = v.colour_slug
ON CONFLICT (sku) DO NOTHING;

INSERT INTO inventory (variant_id, on_hand, reserved, reorder_at, warehouse)
SELECT pv.id, v.on_hand, v.reserved, 5, v.warehouse
FROM (VALUES
  ('LW-K-SHK-001-SAG', 14, 2, 'LDN-1'),
  ('LW-K-SHK-001-POR', 22, 0, 'LDN-1'),
  ('LW-K-SHK-001-OAK',  4, 1, 'LDN-1'),
  ('LW-K-SHK-002-NAV',  9, 0, 'MAN-1'),
  ('LW-K-HDL-001-GRA', 11, 3, 'LDN-1'),
  ('LW-K-HDL-001-POR', 17, 0, 'MAN-1'),
  ('LW-K-HDL-002-GRA',  0, 0, 'LDN-1'),
  ('LW-B-WRD-001-POR', 30, 4, 'MAN-1'),
  ('LW-B-WRD-001-OAK',  6, 0, 'MAN-1'),
  ('LW-B-WRD-002-GRA',  8, 1, 'LDN-1')
) AS v(variant_sku, on_hand, reserved, warehouse)
JOIN product_variants pv ON pv.sku = v.variant_sku
ON CONFLICT (variant_id) DO NOTHING;
