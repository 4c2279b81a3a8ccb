#!/usr/bin/env bash
# Mutation testing of paycore's pure domain modules (stryker.config.mjs names them).
#   test/mutation/run.sh full      every module, one after the other (make mutation)
#   test/mutation/run.sh changed   only the lines of those modules changed since the merge-base
#                                  with main (make test); nothing changed → skipped at once
# Each run fails below an 85 % mutation score. Surviving mutants judged equivalent are listed
# with the reason in test/mutation/equivalent.md (they still count against the score).
set -euo pipefail
cd "$(dirname "$0")/../.."

# module → the files it mutates (must match stryker.config.mjs).
declare -A module_files=(
  [orders]="core/orders/decide.ts core/orders/evolve.ts"
  [routing]="core/routing/eligibility.ts core/routing/scoring.ts core/routing/fees.ts core/routing/windows.ts"
  [gateway]="core/gateway/validate.ts"
  [recon-match]="core/recon/match.ts"
  [recon-format]="core/recon/format.ts"
  [recon-fast]="core/recon/fast.ts"
  [payouts]="core/payouts/decide.ts core/payouts/evolve.ts"
  [ledger]="core/ledger/rules.ts"
  [splits]="core/splits/decide.ts core/splits/shares.ts"
)
modules=(orders routing gateway recon-match recon-format recon-fast payouts ledger splits)
# The modules `changed` (make test) runs: those measured at ≥ 85 % in full, so that a branch
# touching one is held to the bar its module already meets (test/mutation/equivalent.md).
changed_modules=(orders routing gateway recon-match recon-format recon-fast payouts ledger splits)

stryker() {
  local module=$1 mutate=${2:-}
  echo "mutation: module ${module}${mutate:+ (${mutate})}"
  MUTATION_MODULE="$module" MUTATE="$mutate" npx --no-install stryker run
}

# The lines of `file` added or changed since `base`, as Stryker ranges file:a-b (comma-joined).
changed_ranges() {
  local base=$1 file=$2
  git diff --unified=0 "$base" -- "$file" | awk -v f="$file" '
    /^@@/ { split($3, p, ","); start = substr(p[1], 2); count = (p[2] == "" ? 1 : p[2]);
            if (count > 0) printf "%s%s:%d-%d", (n++ ? "," : ""), f, start, start + count - 1 }'
}

case "${1:-changed}" in
  full)
    for module in "${modules[@]}"; do stryker "$module"; done
    ;;
  changed)
    base_ref=""
    for ref in main origin/main; do
      if git rev-parse --verify --quiet "$ref" >/dev/null; then base_ref=$ref; break; fi
    done
    if [[ -z "$base_ref" ]]; then echo "mutation: no main branch to compare with; skipped (make mutation runs it all)"; exit 0; fi
    base=$(git merge-base HEAD "$base_ref")
    ran=0
    for module in "${changed_modules[@]}"; do
      ranges=""
      for file in ${module_files[$module]}; do
        r=$(changed_ranges "$base" "$file")
        [[ -n "$r" ]] && ranges+="${ranges:+,}$r"
      done
      if [[ -n "$ranges" ]]; then stryker "$module" "$ranges"; ran=1; fi
    done
    if [[ $ran -eq 0 ]]; then echo "mutation: no pure domain module changed since the merge-base with $base_ref; skipped (make mutation runs it all)"; fi
    ;;
  *)
    echo "usage: $0 full|changed" >&2; exit 2
    ;;
esac
