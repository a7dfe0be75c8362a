import { ConfigError, portNumber, requireSettings } from '@lomash-wood/service-kit';
import { UPSTREAMS, type Upstream } from '@config/upstreams';

export const SERVICE = 'api-gateway';

export interface Config {
  port: number;
  host: string;
  upstreams: Record<Upstream, string>;
}

/** PORT and every upstream's *_SERVICE_URL (exits 1 naming the missing ones). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const variables = Object.values(UPSTREAMS);
  const settings = requireSettings(SERVICE, env, ['PORT', ...variables]);
  const upstreams = {} as Record<Upstream, string>;
  const invalid: string[] = [];
  for (const [service, variable] of Object.entries(UPSTREAMS) as Array<[Upstream, string]>) {
    const value = settings[variable as keyof typeof settings];
    try {
      upstreams[service] = new URL(value).toString();
    } catch {
      invalid.push(`${variable}=${value} is not a URL`);
    }
  }
  if (invalid.length) throw new ConfigError(SERVICE, [], invalid);
  return { port: portNumber(SERVICE, 'PORT', settings.PORT), host: env.HOST?.trim() || '127.0.0.1', upstreams };
}
