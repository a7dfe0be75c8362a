import { defineConfig, env, type PrismaConfig } from "prisma/config";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { offlinePgAdapter } from "@lomash-wood/prisma-offline";

// DATABASE_URL must be in the environment: with a config file Prisma does not load .env.
// `datasource` is where Prisma 7 reads the connection; the 6.19.3 CLI ignores it when
// `engine` is "js" and connects through the adapter, which is handed the same URL.
const datasource = { url: env("DATABASE_URL") };

export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: {
    path: "prisma/migrations",
    seed: "ts-node prisma/seed.ts",
  },
  datasource,
  engine: "js",
  experimental: { adapter: true },
  adapter: async () => offlinePgAdapter({ PrismaPg, pg, url: datasource.url }),
} as PrismaConfig);
