#!/usr/bin/env bash
# make lab: the lab from bare containers, measured. In order: the platform (podman, the base
# image, the lab's network, the package cache); the lab's containers removed and started anew
# (LAB_KEEP=1 keeps running ones); ansible/lab/lab.yml, the cold converge; the same again, which must
# change nothing; the end-to-end checks (e2e.py). Prints the report and the times, and keeps
# them in .cache/reports/lab.txt. Exit 0 only when all of it passes.
set -uo pipefail
cd "$(dirname "$0")/../.."
export ANSIBLE_VAULT_PASSWORD_FILE=${ANSIBLE_VAULT_PASSWORD_FILE:-$PWD/inventories/lab/vault-password}
INVENTORY=inventories/lab
REPORT=.cache/reports/lab.txt
mkdir -p .cache/reports
if [ ! -t 1 ]; then export NO_COLOR=1 ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0; fi

bash molecule/platform/setup.sh || exit 1
if [ -z "${LAB_KEEP:-}" ]; then
  ansible-playbook -i "$INVENTORY" ansible/lab/lab-down.yml >/dev/null || exit 1
  kind="cold, from bare containers"
else
  kind="containers kept (LAB_KEEP=1)"
fi

# speed: seconds this machine takes for the fixed Python loop of tests/bench/speed.py (the
# same loop as `make bench`), to read the times below by: this VM's speed changes from hour to
# hour. in_loops LOOP SECONDS: SECONDS as a multiple of the loop.
speed() { python3 tests/bench/speed.py; }
in_loops() { awk -v t="$2" -v l="$1" 'BEGIN { printf "%.0f x loop", t / l }'; }
speed0=$(speed)

# converge LOG: runs lab.yml; prints its time in seconds and the hosts' total of changed tasks.
converge() {
  local t0=$SECONDS
  ansible-playbook -i "$INVENTORY" ansible/lab/lab.yml >"$1" 2>&1
  local rc=$?
  local changed
  changed=$(awk '/^PLAY RECAP/{r=1;next} r && /changed=/{sub(/.*changed=/,"");sub(/ .*/,"");s+=$0} END{print s+0}' "$1")
  echo "$((SECONDS - t0)) $changed $rc"
}

echo "lab: converging ansible/lab/lab.yml ($kind); log in .cache/reports/lab-converge.log"
read -r t1 c1 rc1 < <(converge .cache/reports/lab-converge.log)
if [ "$rc1" -ne 0 ]; then
  tail -n 40 .cache/reports/lab-converge.log
  echo "lab: the converge failed (log above)"; exit 1
fi
echo "lab: converging again, which must change nothing; log in .cache/reports/lab-idempotence.log"
read -r t2 c2 rc2 < <(converge .cache/reports/lab-idempotence.log)
echo "lab: end-to-end checks"
t0=$SECONDS
python molecule/lab/e2e.py --inventory "$INVENTORY" | tee .cache/reports/lab-e2e.txt
rc3=${PIPESTATUS[0]}
t3=$((SECONDS - t0))

# Each figure with the date and the loop of this run (the loop before the converges).
speed1=$(speed)
day=$(date -u +%F)
tag="[$day, loop $speed0 s]"
strategy=${ANSIBLE_STRATEGY:-linear}
{
  echo "=== lab report"
  sed -n '/^\(pass\|FAIL\)  [0-9]/p' .cache/reports/lab-e2e.txt
  echo "converge ($kind, strategy $strategy): $t1 s = $(in_loops "$speed0" "$t1"), $c1 changed tasks $tag"
  echo "second converge (strategy $strategy): $t2 s = $(in_loops "$speed0" "$t2"), $c2 changed tasks$([ "$rc2" -ne 0 ] && echo ', FAILED') $tag"
  echo "end-to-end checks: $t3 s = $(in_loops "$speed0" "$t3") $tag"
  echo "machine speed: the fixed Python loop (tests/bench/speed.py) took $speed0 s before, $speed1 s after"
} | tee "$REPORT"
# The same figures for `make bench`, which prints the last lab run's converge times.
printf 'date=%s\nloop=%s\nloop_after=%s\nstrategy=%s\nkind=%s\nconverge=%s\nsecond_converge=%s\ne2e=%s\n' \
  "$day" "$speed0" "$speed1" "$strategy" "$kind" "$t1" "$t2" "$t3" >.cache/reports/lab-times.txt
[ "$rc2" -eq 0 ] && [ "$c2" -eq 0 ] && [ "$rc3" -eq 0 ] || { echo "lab: FAILED"; exit 1; }
echo "lab: all passed"
