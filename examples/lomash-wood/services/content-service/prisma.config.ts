// Prisma CLI configuration for content-service.
// Prisma 6.19.3 with the Wasm schema engine (engine: "js") and the pg driver adapter:
// no engine binary is downloaded. DATABASE_URL must be set in the environment
// (with engine "js" Prisma does not read .env itself).
import { defineConfig } from "prisma/config";
import { createPgAdapter } from "@lomash/prisma-offline";

export default defineConfig({
  engine: "js",
  experimental: { adapter: true },
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  adapter: async () => createPgAdapter(),
});
