import type { PrismaPg } from '@prisma/adapter-pg';

export interface OfflinePgAdapterOptions {
  /** The PrismaPg class of the service's own @prisma/adapter-pg (6.19.3). */
  PrismaPg: typeof PrismaPg;
  /** The service's own `pg` module. */
  pg: { types: { getTypeParser(oid: number, format: 'text'): (value: string) => unknown }; Pool: new (config: object) => unknown };
  /** Defaults to process.env.DATABASE_URL. */
  url?: string;
  /** PostgreSQL schema reported to Prisma (defaults to ?schema= of the URL, or public). */
  schema?: string;
}

/** The driver adapter factory for prisma.config.ts (`adapter: async () => offlinePgAdapter(...)`). */
export declare function offlinePgAdapter(options: OfflinePgAdapterOptions): PrismaPg;

/** unref() every later setTimeout/setInterval of 5 s or more (idempotent). */
export declare function unrefLongTimers(): void;
