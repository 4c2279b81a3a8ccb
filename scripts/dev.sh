#!/usr/bin/env bash
# `make dev`: sets up and runs paycore with its sandbox PSP on this machine.
# Installs and starts Redis and NATS when missing, installs npm packages, builds, creates
# dev keys and a development CA with paycore's and the demo app's certificates under .dev/,
# then runs the sandbox (port 8090) and paycore (gRPC over TLS 50051, HTTP 8080).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-services.sh
[ -d node_modules ] || make --no-print-directory node_modules
npm run --silent build
export SANDBOX_PORT="${SANDBOX_PORT:-8090}"
sandbox_url="http://127.0.0.1:${SANDBOX_PORT}"
eval "$(node dist/testing/dev/dev-setup.js .dev "$sandbox_url")"
export PAYCORE_LOG_LEVEL="${PAYCORE_LOG_LEVEL:-info}"
# The books: a database of its own on the local PostgreSQL (migrated by paycore at boot).
export PAYCORE_DATABASE_URL="${PAYCORE_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/paycore_dev}"
psql "${PAYCORE_DATABASE_URL%/*}/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = '${PAYCORE_DATABASE_URL##*/}'" | grep -q 1 \
  || psql "${PAYCORE_DATABASE_URL%/*}/postgres" -qc "CREATE DATABASE ${PAYCORE_DATABASE_URL##*/}"
# Development merchants listen on this machine; notifications reach no loopback otherwise.
export PAYCORE_NOTIFY_ALLOW_HOSTS="${PAYCORE_NOTIFY_ALLOW_HOSTS:-localhost}"
export PAYCORE_NOTIFY_ALLOW_CIDRS="${PAYCORE_NOTIFY_ALLOW_CIDRS:-127.0.0.0/8,::1/128}"

node dist/testing/sandbox/main.js > .dev/sandbox.log 2>&1 &
sandbox_pid=$!
trap 'kill $sandbox_pid $paycore_pid 2>/dev/null; wait 2>/dev/null' EXIT INT TERM
for _ in $(seq 1 50); do curl -fs "$sandbox_url/sandbox/health" >/dev/null 2>&1 && break; sleep 0.1; done

node dist/workers/main.js > .dev/paycore.log 2>&1 &
paycore_pid=$!
for _ in $(seq 1 100); do grep -q '"paycore ready"' .dev/paycore.log 2>/dev/null && break; sleep 0.1; done
grep -q '"paycore ready"' .dev/paycore.log || { echo "paycore did not start:"; cat .dev/paycore.log; exit 1; }

cat <<MSG
paycore is running with its sandbox PSP:
  gRPC      127.0.0.1:${PAYCORE_GRPC_PORT:-50051}  TLS; callers authenticate (docs/security.md)
            the demo app's client certificate: .dev/tls/apps/demo.pem (CA .dev/tls/ca.pem)
  callbacks http://127.0.0.1:${PAYCORE_HTTP_PORT:-8080}/notify/<channel_id>
  sandbox   $sandbox_url  (control API: testing/sandbox/README.md)
  logs      .dev/paycore.log, .dev/sandbox.log

Make a first payment (in another terminal):
  npm run demo
or with grpcurl, if you have it (as the demo app, with its client certificate):
  grpcurl -cacert .dev/tls/ca.pem -cert .dev/tls/apps/demo.pem -key .dev/tls/apps/demo.key -servername localhost \\
    -d '{"merchant_id":"m1","merchant_order_no":"o-1","amount":"100","currency":"CNY","product":"PRODUCT_WECHAT_NATIVE","subject":"tea"}' \\
    127.0.0.1:50051 paycore.v1.PaymentService/CreatePayment
  curl -X POST $sandbox_url/sandbox/wechatpay/orders/<payment_id>a1/pay

Ctrl-C stops both.
MSG
wait $paycore_pid
