import "dotenv/config";
import { defineConfig, env, type PrismaConfig } from "prisma/config";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { offlinePgAdapter } from "@lomash-wood/prisma-offline";

// The connection, Prisma 7 style: read from DATABASE_URL (the environment first, then this
// service's .env). The Prisma 6.19.3 CLI ignores `datasource` when `engine` is "js" and
// connects through the adapter, which is handed the same URL.
const datasource = { url: env("DATABASE_URL") };

export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: {
    path: "prisma/migrations",
  },
  datasource,
  engine: "js",
  experimental: { adapter: true },
  adapter: async () => offlinePgAdapter({ PrismaPg, pg, url: datasource.url }),
} as PrismaConfig);
