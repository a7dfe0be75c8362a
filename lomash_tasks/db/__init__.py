"""The services' PostgreSQL databases: init.sql, seeds, reset, psql; migrate/ (Prisma, native)."""
