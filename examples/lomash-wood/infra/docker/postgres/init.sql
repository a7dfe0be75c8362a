-- Lomash Wood: roles, databases and extensions for the eight services.
--
-- Run by the official postgres image on first start (/docker-entrypoint-initdb.d), and safe to
-- run again at any time (every statement is idempotent; a second run changes nothing):
--
--   psql -v ON_ERROR_STOP=1 -U lomash_master -d postgres -f init.sql
--
-- Each service gets a least-privilege LOGIN role and its own database, owned by that role:
--   * CREATEDB on the role: `prisma migrate dev` creates and drops a shadow database;
--   * CONNECT is revoked from PUBLIC, so a role cannot open another service's database;
--   * extensions are created here by the superuser (the migrations repeat them with
--     CREATE EXTENSION IF NOT EXISTS, which is then a no-op);
--   * schema public is owned by the service role (PostgreSQL 15+ no longer lets PUBLIC create
--     in it).
-- Development password only: every role uses 'changeme_local' (see the .env.example files).
--
-- Extensions per database:
--   lomash_auth           citext, pgcrypto
--   lomash_products       pg_trgm
--   lomash_orders         pgcrypto
--   lomash_appointments   pgcrypto
--   lomash_content        pg_trgm, uuid-ossp
--   lomash_customers      citext, pgcrypto
--   lomash_notifications  pgcrypto
--   lomash_analytics      pgcrypto

\set ON_ERROR_STOP on

-- auth-service ----------------------------------------------------------------------
\connect postgres
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lomash_auth') THEN
    CREATE ROLE lomash_auth LOGIN PASSWORD 'changeme_local' CREATEDB;
  END IF;
END
$$;
SELECT 'CREATE DATABASE lomash_auth OWNER lomash_auth ENCODING ''UTF8'' TEMPLATE template0'
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'lomash_auth')\gexec
REVOKE CONNECT, TEMPORARY ON DATABASE lomash_auth FROM PUBLIC;
GRANT CONNECT, TEMPORARY, CREATE ON DATABASE lomash_auth TO lomash_auth;
\connect lomash_auth
CREATE EXTENSION IF NOT EXISTS "citext" WITH SCHEMA public;
CREATE EXTENSION IF NOT EXISTS "pgcrypto" WITH SCHEMA public;
ALTER SCHEMA public OWNER TO lomash_auth;
GRANT USAGE, CREATE ON SCHEMA public TO lomash_auth;

-- product-service ----------------------------------------------------------------------
\connect postgres
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lomash_product') THEN
    CREATE ROLE lomash_product LOGIN PASSWORD 'changeme_local' CREATEDB;
  END IF;
END
$$;
SELECT 'CREATE DATABASE lomash_products OWNER lomash_product ENCODING ''UTF8'' TEMPLATE template0'
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'lomash_products')\gexec
REVOKE CONNECT, TEMPORARY ON DATABASE lomash_products FROM PUBLIC;
GRANT CONNECT, TEMPORARY, CREATE ON DATABASE lomash_products TO lomash_product;
\connect lomash_products
CREATE EXTENSION IF NOT EXISTS "pg_trgm" WITH SCHEMA public;
ALTER SCHEMA public OWNER TO lomash_product;
GRANT USAGE, CREATE ON SCHEMA public TO lomash_product;

-- order-payment-service ----------------------------------------------------------------------
\connect postgres
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lomash_order') THEN
    CREATE ROLE lomash_order LOGIN PASSWORD 'changeme_local' CREATEDB;
  END IF;
END
$$;
SELECT 'CREATE DATABASE lomash_orders OWNER lomash_order ENCODING ''UTF8'' TEMPLATE template0'
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'lomash_orders')\gexec
REVOKE CONNECT, TEMPORARY ON DATABASE lomash_orders FROM PUBLIC;
GRANT CONNECT, TEMPORARY, CREATE ON DATABASE lomash_orders TO lomash_order;
\connect lomash_orders
CREATE EXTENSION IF NOT EXISTS "pgcrypto" WITH SCHEMA public;
ALTER SCHEMA public OWNER TO lomash_order;
GRANT USAGE, CREATE ON SCHEMA public TO lomash_order;

-- appointment-service ----------------------------------------------------------------------
\connect postgres
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lomash_appointment') THEN
    CREATE ROLE lomash_appointment LOGIN PASSWORD 'changeme_local' CREATEDB;
  END IF;
END
$$;
SELECT 'CREATE DATABASE lomash_appointments OWNER lomash_appointment ENCODING ''UTF8'' TEMPLATE template0'
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'lomash_appointments')\gexec
REVOKE CONNECT, TEMPORARY ON DATABASE lomash_appointments FROM PUBLIC;
GRANT CONNECT, TEMPORARY, CREATE ON DATABASE lomash_appointments TO lomash_appointment;
\connect lomash_appointments
CREATE EXTENSION IF NOT EXISTS "pgcrypto" WITH SCHEMA public;
ALTER SCHEMA public OWNER TO lomash_appointment;
GRANT USAGE, CREATE ON SCHEMA public TO lomash_appointment;

-- content-service ----------------------------------------------------------------------
\connect postgres
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lomash_content') THEN
    CREATE ROLE lomash_content LOGIN PASSWORD 'changeme_local' CREATEDB;
  END IF;
END
$$;
SELECT 'CREATE DATABASE lomash_content OWNER lomash_content ENCODING ''UTF8'' TEMPLATE template0'
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'lomash_content')\gexec
REVOKE CONNECT, TEMPORARY ON DATABASE lomash_content FROM PUBLIC;
GRANT CONNECT, TEMPORARY, CREATE ON DATABASE lomash_content TO lomash_content;
\connect lomash_content
CREATE EXTENSION IF NOT EXISTS "pg_trgm" WITH SCHEMA public;
CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA public;
ALTER SCHEMA public OWNER TO lomash_content;
GRANT USAGE, CREATE ON SCHEMA public TO lomash_content;

-- customer-service ----------------------------------------------------------------------
\connect postgres
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lomash_customer') THEN
    CREATE ROLE lomash_customer LOGIN PASSWORD 'changeme_local' CREATEDB;
  END IF;
END
$$;
SELECT 'CREATE DATABASE lomash_customers OWNER lomash_customer ENCODING ''UTF8'' TEMPLATE template0'
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'lomash_customers')\gexec
REVOKE CONNECT, TEMPORARY ON DATABASE lomash_customers FROM PUBLIC;
GRANT CONNECT, TEMPORARY, CREATE ON DATABASE lomash_customers TO lomash_customer;
\connect lomash_customers
CREATE EXTENSION IF NOT EXISTS "citext" WITH SCHEMA public;
CREATE EXTENSION IF NOT EXISTS "pgcrypto" WITH SCHEMA public;
ALTER SCHEMA public OWNER TO lomash_customer;
GRANT USAGE, CREATE ON SCHEMA public TO lomash_customer;

-- notification-service ----------------------------------------------------------------------
\connect postgres
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lomash_notification') THEN
    CREATE ROLE lomash_notification LOGIN PASSWORD 'changeme_local' CREATEDB;
  END IF;
END
$$;
SELECT 'CREATE DATABASE lomash_notifications OWNER lomash_notification ENCODING ''UTF8'' TEMPLATE template0'
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'lomash_notifications')\gexec
REVOKE CONNECT, TEMPORARY ON DATABASE lomash_notifications FROM PUBLIC;
GRANT CONNECT, TEMPORARY, CREATE ON DATABASE lomash_notifications TO lomash_notification;
\connect lomash_notifications
CREATE EXTENSION IF NOT EXISTS "pgcrypto" WITH SCHEMA public;
ALTER SCHEMA public OWNER TO lomash_notification;
GRANT USAGE, CREATE ON SCHEMA public TO lomash_notification;

-- analytics-service ----------------------------------------------------------------------
\connect postgres
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lomash_analytics') THEN
    CREATE ROLE lomash_analytics LOGIN PASSWORD 'changeme_local' CREATEDB;
  END IF;
END
$$;
SELECT 'CREATE DATABASE lomash_analytics OWNER lomash_analytics ENCODING ''UTF8'' TEMPLATE template0'
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'lomash_analytics')\gexec
REVOKE CONNECT, TEMPORARY ON DATABASE lomash_analytics FROM PUBLIC;
GRANT CONNECT, TEMPORARY, CREATE ON DATABASE lomash_analytics TO lomash_analytics;
\connect lomash_analytics
CREATE EXTENSION IF NOT EXISTS "pgcrypto" WITH SCHEMA public;
ALTER SCHEMA public OWNER TO lomash_analytics;
GRANT USAGE, CREATE ON SCHEMA public TO lomash_analytics;

\connect postgres
