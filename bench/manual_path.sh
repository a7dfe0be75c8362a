#!/usr/bin/env bash
# The monorepo's old README, scripted as bash: what `inv setup` replaces (minus
# `docker compose up`, which needs a Docker engine: the stack is already running).
# Usage: manual_path.sh WORKSPACE PNPM PG_HOST PG_PORT AWS_URL
set -euo pipefail
ws=$1 pnpm=$2 pg_host=$3 pg_port=$4 aws_url=$5
cd "$ws"

# 1. Copy environment files
cp .env.example .env
for svc in api-gateway services/auth-service services/product-service \
           services/order-payment-service services/appointment-service \
           services/content-service services/customer-service \
           services/notification-service services/analytics-service; do
  cp ${svc}/.env.example ${svc}/.env
done

# 2. Wait for Postgres "by eye": poll once a second
until pg_isready -q -h "$pg_host" -p "$pg_port"; do sleep 1; done

# 3. Run database migrations, one service after another
for svc in auth-service product-service order-payment-service appointment-service \
           content-service customer-service notification-service analytics-service; do
  url=$(grep '^DATABASE_URL=' services/$svc/.env | cut -d= -f2- | sed "s/@localhost:5432/@$pg_host:$pg_port/")
  DATABASE_URL=$url "$pnpm" --filter "$svc" exec prisma migrate deploy >/dev/null
done

# 4. Seed development data
for svc in auth-service product-service order-payment-service appointment-service \
           content-service customer-service notification-service analytics-service; do
  url=$(grep '^DATABASE_URL=' services/$svc/.env | cut -d= -f2- | sed "s/@localhost:5432/@$pg_host:$pg_port/" | sed 's/?schema=public//')
  psql -q -X -v ON_ERROR_STOP=1 "$url" -f services/$svc/prisma/seed.sql >/dev/null
done

# 5. Create the buckets (the README's `aws --endpoint-url=... s3 mb`)
for bucket in lomash-dev-media lomash-dev-assets; do
  "${PYTHON:-python3}" - "$aws_url" "$bucket" <<'PY'
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="eu-west-2",
                  aws_access_key_id="test", aws_secret_access_key="test")
s3.create_bucket(Bucket=sys.argv[2], CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
PY
done
