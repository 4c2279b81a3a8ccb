#!/usr/bin/env bash
# Makes sure Redis, NATS (with JetStream) and PostgreSQL listen on 127.0.0.1: installs Debian's
# redis-server, nats-server and postgresql when missing, starts them when not listening; installs
# Debian's prometheus (promtool, and the server the scrape test starts), protoc with
# python3-grpcio for the Python client test, chromium (the reconciliation report test) and
# openssl (dev certificates). Idempotent.
set -euo pipefail

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
install_pkg() {
  if [ "$apt_updated" = 0 ]; then sudo_if_needed apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq "$@" >/dev/null
}

wait_port() {
  for _ in $(seq 1 100); do listening "$1" && return 0; sleep 0.1; done
  echo "ensure-services: nothing listens on 127.0.0.1:$1 after start" >&2; return 1
}

# openssl issues the development CA and certificates (testing/dev/dev-certs.ts, the test stacks).
command -v openssl >/dev/null || install_pkg openssl

if ! listening 6379; then
  command -v redis-server >/dev/null || install_pkg redis-server
  mkdir -p /tmp/paycore-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp/paycore-redis --logfile /tmp/paycore-redis/redis.log
  wait_port 6379
  echo "ensure-services: started redis-server on 127.0.0.1:6379"
fi

if ! listening 4222; then
  command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || install_pkg nats-server
  nats_bin=$(command -v nats-server || echo /usr/sbin/nats-server)
  mkdir -p /tmp/paycore-nats
  nohup "$nats_bin" -a 127.0.0.1 -p 4222 -js -sd /tmp/paycore-nats >/tmp/paycore-nats/nats.log 2>&1 &
  wait_port 4222
  echo "ensure-services: started nats-server (JetStream) on 127.0.0.1:4222"
fi

# PostgreSQL: the books (core/ledger). Debian's cluster; the tests and `make dev` connect as
# postgres over 127.0.0.1 without a password, so loopback is trusted on this development
# machine (never do that on a shared host).
if ! listening 5432; then
  ls /etc/postgresql/*/main/pg_hba.conf >/dev/null 2>&1 || install_pkg postgresql
  pg_version=$(ls /etc/postgresql | sort -V | tail -1)
  hba="/etc/postgresql/${pg_version}/main/pg_hba.conf"
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    sudo_if_needed sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  fi
  # The package may have started the cluster itself (then only the trust line needs a reload).
  if pg_lsclusters -h 2>/dev/null | awk -v v="$pg_version" '$1 == v && $2 == "main" && $4 == "online"' | grep -q .; then
    sudo_if_needed pg_ctlcluster "$pg_version" main reload
  else
    sudo_if_needed pg_ctlcluster "$pg_version" main start
  fi
  wait_port 5432
  echo "ensure-services: started PostgreSQL ${pg_version} on 127.0.0.1:5432"
fi

if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  install_pkg prometheus
  echo "ensure-services: installed prometheus and promtool"
fi

# core/recon's day-end report is checked in a real browser (test/recon-report.test.ts):
# Debian's headless Chromium, driven by puppeteer-core.
if ! command -v chromium >/dev/null; then
  install_pkg chromium
  echo "ensure-services: installed chromium"
fi

# test/python-client.test.ts: a non-grpc-js client, Python grpcio with stubs protoc generates
# at test time, all from Debian (the packages serve Debian's /usr/bin/python3).
if ! command -v protoc >/dev/null || [ ! -x /usr/bin/grpc_python_plugin ] || ! /usr/bin/python3 -c 'import grpc, google.protobuf' 2>/dev/null; then
  install_pkg protobuf-compiler protobuf-compiler-grpc python3-grpcio python3-protobuf
  echo "ensure-services: installed protoc, grpc_python_plugin, python3-grpcio and python3-protobuf"
fi
