# product-service (port 3002, debug 9231) - 4-stage build; the build context is the monorepo root.
#   docker compose build product-service        (from infra/docker/)

# ---- Stage 1: deps - workspace-filtered install
FROM node:20-alpine AS deps
ENV COREPACK_INTEGRITY_KEYS=0
RUN corepack enable && corepack prepare pnpm@9.1.0 --activate
WORKDIR /app
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY packages ./packages
COPY services/product-service/package.json ./services/product-service/
RUN pnpm install --frozen-lockfile --filter "product-service..."

# ---- Stage 2: prisma-gen - Prisma client baked in (engineType "client": no query-engine binary)
FROM deps AS prisma-gen
COPY services/product-service/prisma ./services/product-service/prisma
COPY services/product-service/prisma.config.ts ./services/product-service/
# The service code does not import @prisma/client yet: generate once it is a dependency.
# (A placeholder URL: generate never connects.)
ARG DATABASE_URL=postgresql://build:build@localhost:5432/build
RUN if [ -d services/product-service/node_modules/@prisma/client ]; then \
      DATABASE_URL="$DATABASE_URL" pnpm --filter product-service exec prisma generate --no-hints; \
    fi

# ---- Stage 3: builder - compile to dist/
FROM prisma-gen AS builder
COPY services/product-service ./services/product-service
RUN pnpm --filter product-service build \
 && pnpm --filter product-service deploy --prod /out

# ---- Stage 4: runner - dist/ + production node_modules + prisma schema, as nodeuser
# "base-node" is base-node.Dockerfile, passed in by docker compose (additional_contexts)
FROM base-node AS runner
ENV SERVICE_NAME=product-service PORT=3002
WORKDIR /app/services/product-service
COPY --from=builder --chown=nodeuser:nodeuser /out/node_modules ./node_modules
COPY --from=builder --chown=nodeuser:nodeuser /out/package.json ./package.json
COPY --from=builder --chown=nodeuser:nodeuser /app/services/product-service/dist ./dist
COPY --from=builder --chown=nodeuser:nodeuser /app/services/product-service/prisma ./prisma
COPY --from=builder --chown=nodeuser:nodeuser /app/services/product-service/prisma.config.ts ./
USER nodeuser
EXPOSE 3002
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=5 \
  CMD curl -fsS "http://127.0.0.1:${PORT}/health" || exit 1
CMD ["node", "dist/index.js"]
