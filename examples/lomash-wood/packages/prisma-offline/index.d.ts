import type { PrismaPg } from "@prisma/adapter-pg";

export interface CreatePgAdapterOptions {
  /** Defaults to process.env.DATABASE_URL. */
  connectionString?: string;
  /** PostgreSQL schema reported to Prisma (defaults to the one in the URL, or public). */
  schema?: string;
}

export declare class OfflinePrismaPg extends PrismaPg {}

/** The driver adapter factory for prisma.config.ts (`adapter: async () => createPgAdapter()`). */
export declare function createPgAdapter(options?: CreatePgAdapterOptions): OfflinePrismaPg;

/** unref() every later setTimeout/setInterval of 5 s or more (idempotent). */
export declare function unrefLongTimers(): void;
