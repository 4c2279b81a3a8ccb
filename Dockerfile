# paycore's production image: the production build only (tsconfig.build.json: core, workers,
# channels, proto/gen). The test kit (testing/: sandbox PSP, stack launcher, dev setup, demo),
# the benchmarks (bench/) and the tests are neither copied nor compiled;
# test/production-build.test.ts builds exactly what this file copies and checks the output.

FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY proto ./proto
COPY core ./core
COPY workers ./workers
COPY channels ./channels
RUN npx tsc -p tsconfig.build.json

FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# Read at run time: the gRPC contract (core/gateway/grpc.ts loads proto/ beside dist/) and the
# books' and reconciliation's SQL migrations (core/ledger/store.ts, core/recon/store.ts; tsc
# copies no .sql).
COPY --from=build /app/proto/paycore ./proto/paycore
COPY --from=build /app/proto/google ./proto/google
COPY --from=build /app/core/ledger/migrations ./dist/core/ledger/migrations
COPY --from=build /app/core/recon/migrations ./dist/core/recon/migrations
USER node
EXPOSE 50051 8080
CMD ["node", "dist/workers/main.js"]
