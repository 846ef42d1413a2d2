#!/usr/bin/env bash
# Runs every Molecule scenario (molecule/*/molecule.yml) through its full test sequence
# (create, converge, idempotence, verify, destroy), then prints one line per scenario with
# its time and a closing count. No scenario found is a failure. Names given as arguments
# limit the run to those scenarios. Ansible's strategy is the caller's ANSIBLE_STRATEGY
# (`make molecule` sets mitogen_linear; unset, Ansible's own linear), except in a scenario
# whose molecule.yml pins one (`common` pins linear); each scenario's line says which ran.
set -uo pipefail
cd "$(dirname "$0")/../.."

if [ $# -gt 0 ]; then
  scenarios=("$@")
else
  mapfile -t scenarios < <(find molecule -mindepth 2 -maxdepth 2 -name molecule.yml -printf '%h\n' | xargs -r -n1 basename | sort)
fi
if [ ${#scenarios[@]} -eq 0 ]; then
  echo "molecule: no scenario found under molecule/" >&2
  exit 1
fi

# Plain text when the output is not a terminal (CI logs, files).
if [ ! -t 1 ]; then export NO_COLOR=1 ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 PY_COLORS=0; fi

passed=0; failed=0; report=()
for s in "${scenarios[@]}"; do
  echo "=== molecule scenario $s"
  strategy=$(sed -n 's/^ *ANSIBLE_STRATEGY: *//p' "molecule/$s/molecule.yml" | head -n 1)
  strategy=${strategy:-${ANSIBLE_STRATEGY:-linear}}
  t0=$SECONDS
  if molecule test -s "$s"; then
    passed=$((passed + 1)); report+=("  pass  $s  $((SECONDS - t0)) s  (strategy $strategy)")
  else
    failed=$((failed + 1)); report+=("  FAIL  $s  $((SECONDS - t0)) s  (strategy $strategy)")
  fi
done
echo "=== molecule scenarios"
printf '%s\n' "${report[@]}"
echo "molecule: $passed passed, $failed failed"
mkdir -p .cache/reports
printf 'passed=%s\nfailed=%s\n' "$passed" "$failed" >.cache/reports/molecule.txt
[ "$failed" -eq 0 ]
