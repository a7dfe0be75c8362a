import type { Server } from 'node:http';

export type Check = () => Promise<string>;

export declare class ConfigError extends Error {
  readonly missing: string[];
  readonly invalid: string[];
  constructor(service: string, missing: string[], invalid?: string[]);
}

/** The named variables from `env`, trimmed; throws a ConfigError naming every missing one. */
export declare function requireSettings<K extends string>(
  service: string, env: NodeJS.ProcessEnv, names: readonly K[]): Record<K, string>;

/** A TCP port from a variable's value; throws a ConfigError when it is not one. */
export declare function portNumber(service: string, name: string, value: string): number;

/** Prints one clear line on stderr and exits with code 1. */
export declare function exitOnStartupError(service: string, error: unknown): never;

export interface ServerOptions {
  service: string;
  host?: string;
  port: number;
  checks?: Record<string, Check>;
}

/** GET /health: 200 when every check answers, else 503 naming the failed ones. */
export declare function startServer(options: ServerOptions): Server;

export declare function runChecks(checks: Record<string, Check>): Promise<{
  failed: string[];
  results: Record<string, { ok: boolean; detail?: string; error?: string }>;
}>;

export interface PgClientLike {
  connect(): Promise<unknown>;
  query(sql: string): Promise<{ rows: Array<Record<string, unknown>> }>;
  end(): Promise<void>;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

export declare function postgresCheck(
  Client: new (config: { connectionString: string; connectionTimeoutMillis?: number }) => PgClientLike,
  url: string): Check;

export interface RedisTarget {
  host: string;
  port: number;
  username: string;
  password: string;
  db: number;
}

export declare function redisFromUrl(url: string): RedisTarget;
export declare function redisFromParts(env: NodeJS.ProcessEnv): RedisTarget;
export declare function redisCheck(target: RedisTarget): Check;
export declare function httpCheck(url: string): Check;
