import 'dotenv/config';
import { exitOnStartupError, startServer } from '@lomash-wood/service-kit';
import { SERVICE, loadConfig } from '@config/env';
import { healthChecks } from '@infrastructure/health';

function main(): void {
  console.log(`🚀 Starting ${SERVICE} (NODE_ENV=${process.env.NODE_ENV ?? 'unset'}, pid ${process.pid})`);
  const config = loadConfig();
  startServer({ service: SERVICE, host: config.host, port: config.port, checks: healthChecks(config) });
}

try {
  main();
} catch (error) {
  exitOnStartupError(SERVICE, error);
}
