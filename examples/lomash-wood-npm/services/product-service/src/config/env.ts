import { portNumber, redisFromParts, requireSettings, type RedisTarget } from '@lomash-wood/service-kit';

export const SERVICE = 'product-service';

export interface Config {
  port: number;
  host: string;
  databaseUrl: string;
  redis: RedisTarget;
}

// Redis: the split keys REDIS_HOST, REDIS_PORT, REDIS_PASSWORD (may be empty) and REDIS_DB (default 0).
const REQUIRED = ['PORT', 'DATABASE_URL', 'REDIS_HOST', 'REDIS_PORT'] as const;

/** The settings this service cannot start without (exits 1 naming the missing ones). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const settings = requireSettings(SERVICE, env, REQUIRED);
  return {
    port: portNumber(SERVICE, 'PORT', settings.PORT),
    host: env.HOST?.trim() || '127.0.0.1',
    databaseUrl: settings.DATABASE_URL,
    redis: redisFromParts(env),
  };
}
