import { defineConfig, env, type PrismaConfig } from "prisma/config";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { offlinePgAdapter } from "@lomash-wood/prisma-offline";

// The schema is not named here: Prisma takes it from package.json ("prisma": {"schema": ...})
// and keeps the migrations beside it. DATABASE_URL must be in the environment: with a config
// file Prisma does not load .env. The 6.19.3 CLI ignores `datasource` when `engine` is "js"
// and connects through the adapter, which is handed the same URL.
const datasource = { url: env("DATABASE_URL") };

export default defineConfig({
  datasource,
  engine: "js",
  experimental: { adapter: true },
  adapter: async () => offlinePgAdapter({ PrismaPg, pg, url: datasource.url }),
} as PrismaConfig);
