#!/usr/bin/env bash
# The contract's checks (docs/api.md, "Compatibility and versioning"), run by `make test`:
#   1. buf lint (STANDARD rules, buf.yaml) over proto/;
#   2. buf breaking against proto/released/paycore-v1.json, the committed image of the
#      contract as released: meaningful on a clean clone of main itself;
#   3. on a branch (HEAD not main's tip), buf breaking against the merge-base with main too,
#      so additions made since the release are protected as well; skipped when the merge-base
#      predates the baseline (no compatibility was promised then) or there is no git checkout.
# --release rewrites the baseline from proto/ (after a compatible change, or with a new
# package version); never to silence a break.
set -euo pipefail
cd "$(dirname "$0")/.."
baseline=proto/released/paycore-v1.json
buf_bin="$PWD/node_modules/.bin/buf"
buf() { "$buf_bin" "$@"; }

if [ "${1:-}" = "--release" ]; then
  mkdir -p "$(dirname "$baseline")"
  # Without source info the image holds only what compatibility is judged on, and stays small.
  buf build --exclude-source-info -o "$baseline"
  echo "baseline written: $baseline"
  exit 0
fi

buf lint
echo "contract: buf lint passed"
buf breaking --against "$baseline"
echo "contract: no breaking change against $baseline"

main_ref=""
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  for ref in main origin/main; do
    if git rev-parse --verify --quiet "$ref^{commit}" >/dev/null; then main_ref=$ref; break; fi
  done
fi
if [ -z "$main_ref" ]; then
  echo "contract: no git checkout with a main branch; checked against the baseline only"
  exit 0
fi
if ! base=$(git merge-base HEAD "$main_ref" 2>/dev/null); then
  echo "contract: no merge-base with $main_ref (a shallow clone?); checked against the baseline only"
  exit 0
fi
if [ "$base" = "$(git rev-parse HEAD)" ]; then
  echo "contract: HEAD is $main_ref's tip; the baseline is the check"
  exit 0
fi
if ! git cat-file -e "$base:$baseline" 2>/dev/null; then
  echo "contract: the merge-base with $main_ref predates the released baseline; checked against the baseline only"
  exit 0
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
git archive "$base" buf.yaml proto | tar -x -C "$scratch"
(cd "$scratch" && "$buf_bin" build --exclude-source-info -o "$scratch/base.json")
buf breaking --against "$scratch/base.json"
echo "contract: no breaking change against the merge-base with $main_ref (${base:0:12})"
