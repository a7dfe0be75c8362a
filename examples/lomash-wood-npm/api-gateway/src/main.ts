import 'dotenv/config';
import { exitOnStartupError, httpCheck, startServer, type Check } from '@lomash-wood/service-kit';
import { SERVICE, loadConfig } from '@config/env';

// GET /health answers 200 only when every service behind the gateway answers its own
// GET /health with 200; 503 names the ones that do not.
function main(): void {
  console.log(`🚀 Starting ${SERVICE} (NODE_ENV=${process.env.NODE_ENV ?? 'unset'}, pid ${process.pid})`);
  const config = loadConfig();
  const checks: Record<string, Check> = {};
  for (const [service, url] of Object.entries(config.upstreams)) checks[service] = httpCheck(url);
  startServer({ service: SERVICE, host: config.host, port: config.port, checks });
}

try {
  main();
} catch (error) {
  exitOnStartupError(SERVICE, error);
}
