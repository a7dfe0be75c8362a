# api-gateway (port 3000, debug 9229) - 4-stage build; the build context is the monorepo root.
#   docker compose build api-gateway        (from infra/docker/)

# ---- Stage 1: deps - workspace-filtered install
FROM node:20-alpine AS deps
ENV COREPACK_INTEGRITY_KEYS=0
RUN corepack enable && corepack prepare pnpm@9.1.0 --activate
WORKDIR /app
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY packages ./packages
COPY api-gateway/package.json ./api-gateway/
RUN pnpm install --frozen-lockfile --filter "api-gateway..."

# ---- Stage 2: prisma-gen - nothing to generate (the gateway owns no database)
FROM deps AS prisma-gen

# ---- Stage 3: builder - compile to dist/
FROM prisma-gen AS builder
COPY api-gateway ./api-gateway
RUN pnpm --filter api-gateway build \
 && pnpm --filter api-gateway deploy --prod /out

# ---- Stage 4: runner - dist/ + production node_modules + prisma schema, as nodeuser
# "base-node" is base-node.Dockerfile, passed in by docker compose (additional_contexts)
FROM base-node AS runner
ENV SERVICE_NAME=api-gateway PORT=3000
WORKDIR /app/api-gateway
COPY --from=builder --chown=nodeuser:nodeuser /out/node_modules ./node_modules
COPY --from=builder --chown=nodeuser:nodeuser /out/package.json ./package.json
COPY --from=builder --chown=nodeuser:nodeuser /app/api-gateway/dist ./dist
USER nodeuser
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=5 \
  CMD curl -fsS "http://127.0.0.1:${PORT}/health" || exit 1
CMD ["node", "dist/index.js"]
