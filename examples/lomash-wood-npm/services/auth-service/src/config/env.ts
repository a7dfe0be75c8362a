import { portNumber, redisFromUrl, requireSettings, type RedisTarget } from '@lomash-wood/service-kit';

export const SERVICE = 'auth-service';

export interface Config {
  port: number;
  host: string;
  databaseUrl: string;
  redis: RedisTarget;
}

// Redis: one URL, redis://[:password@]host:port/index (REDIS_URL).
const REQUIRED = ['PORT', 'DATABASE_URL', 'REDIS_URL', 'BETTER_AUTH_SECRET'] as const;

/** The settings this service cannot start without (exits 1 naming the missing ones). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const settings = requireSettings(SERVICE, env, REQUIRED);
  return {
    port: portNumber(SERVICE, 'PORT', settings.PORT),
    host: env.HOST?.trim() || '127.0.0.1',
    databaseUrl: settings.DATABASE_URL,
    redis: redisFromUrl(settings.REDIS_URL),
  };
}
