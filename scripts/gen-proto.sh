#!/usr/bin/env bash
# Regenerates proto/gen from proto/ with buf (npm) and ts-proto (npm): `make proto`.
# With --check DIR, writes into DIR instead, so a test can compare with what is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
out=proto/gen
if [ "${1:-}" = "--check" ]; then out="$2"; fi
rm -rf "$out.tmp" && mkdir -p "$out.tmp"
npx --no-install buf generate --template buf.gen.yaml --exclude-path proto/paycore/v1/admin.proto --exclude-path proto/paycore/v1/ledger.proto --exclude-path proto/paycore/v1/recon.proto --exclude-path proto/paycore/v1/payout.proto --exclude-path proto/paycore/v1/split.proto -o "$out.tmp"
# admin.proto: generic service definitions instead of grpc-js classes (buf.gen.admin.yaml says why).
rm -rf "$out.admin.tmp" && mkdir -p "$out.admin.tmp"
npx --no-install buf generate --template buf.gen.admin.yaml --path proto/paycore/v1/admin.proto -o "$out.admin.tmp"
cp "$out.admin.tmp/proto/gen/paycore/v1/admin.ts" "$out.tmp/proto/gen/paycore/v1/admin.ts" && rm -rf "$out.admin.tmp"
# ledger.proto likewise (its services are registered the same way, core/gateway/ledger.ts).
mkdir -p "$out.admin.tmp"
npx --no-install buf generate --template buf.gen.admin.yaml --path proto/paycore/v1/ledger.proto -o "$out.admin.tmp"
cp "$out.admin.tmp/proto/gen/paycore/v1/ledger.ts" "$out.tmp/proto/gen/paycore/v1/ledger.ts" && rm -rf "$out.admin.tmp"
# recon.proto likewise (core/gateway/recon.ts).
mkdir -p "$out.admin.tmp"
npx --no-install buf generate --template buf.gen.admin.yaml --path proto/paycore/v1/recon.proto -o "$out.admin.tmp"
cp "$out.admin.tmp/proto/gen/paycore/v1/recon.ts" "$out.tmp/proto/gen/paycore/v1/recon.ts" && rm -rf "$out.admin.tmp"
# payout.proto likewise (core/gateway/payouts.ts).
mkdir -p "$out.admin.tmp"
npx --no-install buf generate --template buf.gen.admin.yaml --path proto/paycore/v1/payout.proto -o "$out.admin.tmp"
cp "$out.admin.tmp/proto/gen/paycore/v1/payout.ts" "$out.tmp/proto/gen/paycore/v1/payout.ts" && rm -rf "$out.admin.tmp"
# split.proto likewise (core/gateway/splits.ts).
mkdir -p "$out.admin.tmp"
npx --no-install buf generate --template buf.gen.admin.yaml --path proto/paycore/v1/split.proto -o "$out.admin.tmp"
cp "$out.admin.tmp/proto/gen/paycore/v1/split.ts" "$out.tmp/proto/gen/paycore/v1/split.ts" && rm -rf "$out.admin.tmp"
rm -rf "$out" && mv "$out.tmp/proto/gen" "$out" && rm -rf "$out.tmp"
