import { Client } from 'pg';
import { postgresCheck, redisCheck, type Check } from '@lomash-wood/service-kit';
import type { Config } from '@config/env';

/** GET /health is 200 only when this service's own database and Redis index answer. */
export function healthChecks(config: Config): Record<string, Check> {
  return {
    postgres: postgresCheck(Client, config.databaseUrl),
    redis: redisCheck(config.redis),
  };
}
