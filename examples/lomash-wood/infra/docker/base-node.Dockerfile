# Shared runtime base for every Lomash Wood service: Node 20 LTS on Alpine, pnpm 9.1.0,
# dumb-init as PID 1, curl for the HEALTHCHECK, a non-root user (nodeuser, uid 1001), UK time.
FROM node:20-alpine

LABEL project="lomash-wood" \
      org.opencontainers.image.title="lomash-wood-base-node"

ENV TZ=Europe/London \
    NODE_ENV=production \
    PNPM_HOME=/pnpm \
    PATH=/pnpm:$PATH \
    COREPACK_INTEGRITY_KEYS=0

RUN apk add --no-cache dumb-init curl tzdata \
 && corepack enable && corepack prepare pnpm@9.1.0 --activate \
 && addgroup -S -g 1001 nodeuser && adduser -S -u 1001 -G nodeuser nodeuser

WORKDIR /app
ENTRYPOINT ["dumb-init", "--"]
