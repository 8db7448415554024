#!/usr/bin/env bash
# lbbt sweep --slurm through a real Slurm on this machine: slurmctld and slurmd on 127.0.0.1
# from a slurm.conf generated here (AuthType=auth/none, CredType=cred/none: no munge),
# stopped at the end.  Table 3's smoke tier (2 runs) runs as a job array plus a dependent
# merge job; the merged file renders the same table and holds the same runs as one `lbbt
# run`.  Then the array is cancelled once its first run is complete (the second task killed
# or never started) and the sweep rerun: no completed run is lost and the table completes.
source tests/cli/lib.bash
for p in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/bin/sbatch /usr/bin/squeue /usr/bin/scancel; do
  [ -x $p ] || { skip all "$p absent (Debian package slurm-wlm; tools/install-deps installs it)"; exit 0; }
done
[ "$(id -u)" = 0 ] || { skip all "slurmd must run as root to start jobs"; exit 0; }
[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { skip all "Fashion-MNIST absent"; exit 0; }
[ -r "${LBBT_MODELS:-../shared/models}/stories260K.bin" ] || { skip all "stories260K.bin absent"; exit 0; }
EXP=experiments/table-3.yaml
WAIT_START_S=60   # for the daemons to answer
WAIT_JOBS_S=600   # for a sweep's jobs to leave the queue (2 smoke runs: ~10 s unloaded)

S=$CLI_TMP/slurm
mkdir -p "$S/state" "$S/spool"
pids=()
stop_slurm() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  pids=()
}
trap 'stop_slurm; rm -rf "$CLI_TMP"' EXIT
trap 'exit 1' INT TERM
# two free TCP ports for slurmctld and slurmd
read -r CTLD_PORT SLURMD_PORT < <(/usr/bin/python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
H=$(hostname -s)
cat > "$S/slurm.conf" <<CONF
ClusterName=lbbt-test
SlurmctldHost=$H(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/none
CredType=cred/none
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName=$H NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=lbbt Nodes=$H Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$S/slurm.conf
/usr/sbin/slurmctld -D -i -f "$SLURM_CONF" > "$S/slurmctld.log" 2>&1 & pids+=($!)
/usr/sbin/slurmd -D -f "$SLURM_CONF" > "$S/slurmd.log" 2>&1 & pids+=($!)
up=0
for ((i = 0; i < WAIT_START_S; i++)); do
  if /usr/bin/sinfo -h -o %t 2>/dev/null | grep -q idle; then up=1; break; fi
  sleep 1
done
if [ $up = 0 ]; then
  echo "FAIL slurm.daemons_start: no idle node after ${WAIT_START_S}s: $(tail -n 2 "$S/slurmctld.log" "$S/slurmd.log" | tr '\n' ' ')"
  exit 0
fi

# wait_jobs JOB...: until none is queued or running (bounded)
wait_jobs() {
  local i j left
  for ((i = 0; i < WAIT_JOBS_S; i++)); do
    left=0
    for j in "$@"; do [ -n "$(/usr/bin/squeue -h -j "$j" 2>/dev/null)" ] && left=1; done
    [ $left = 0 ] && return 0
    sleep 1
  done
  echo "jobs $* still queued after ${WAIT_JOBS_S}s" >&2
  return 1
}
# sweep OUT.h5 [options]: submit, print "ARRAY MERGE"
sweep() {
  local out=$1; shift
  "$LBBT" sweep $EXP --tier smoke --slurm --out "$out" "$@" > "$CLI_TMP/submit.log" 2>&1 || { cat "$CLI_TMP/submit.log" >&2; return 1; }
  sed -n 's/^submitted array job \([0-9]*\) .* merge job \([0-9]*\) .*/\1 \2/p' "$CLI_TMP/submit.log"
}
ids=$("$LBBT" check $EXP --tier smoke | awk '{print $1}')
first=$(echo "$ids" | head -n 1)
mkdir -p "$CLI_TMP/plain" "$CLI_TMP/a" "$CLI_TMP/b"
check dry_run_prints_scripts bash -c "'$LBBT' sweep $EXP --tier smoke --slurm --dry-run --out '$CLI_TMP/a/table-3-smoke.h5' --time 10 |
  grep -q 'SBATCH --array=0-1' && test ! -e '$CLI_TMP/a/table-3-smoke.runs'"

if ! "$LBBT" run $EXP --tier smoke --threads 1 --out "$CLI_TMP/plain/table-3-smoke.h5" > "$CLI_TMP/plain.log" 2>&1; then
  echo "FAIL slurm.plain_run: $(tail -n 3 "$CLI_TMP/plain.log" | tr '\n' ' ')"
  exit 0
fi
whole_table() {
  local jobs
  jobs=$(sweep "$CLI_TMP/a/table-3-smoke.h5") && [ -n "$jobs" ] || return 1
  wait_jobs $jobs || return 1
  "$LBBT" sweep $EXP --tier smoke --out "$CLI_TMP/a/table-3-smoke.h5" --dry-run | grep -q '0 to run, 0 to merge, 2 complete' || {
    cat "$CLI_TMP/a/table-3-smoke.runs"/slurm-*.out; return 1; }
}
check array_and_merge whole_table
check same_runs same_run_items "$CLI_TMP/plain/table-3-smoke.h5" "$CLI_TMP/a/table-3-smoke.h5" $ids
check same_table same_table_md 3 "$CLI_TMP/plain/table-3-smoke.h5" "$CLI_TMP/a/table-3-smoke.h5"

# one task at a time; cancel the array once the first run's file is complete
killed_task_rerun() {
  local jobs array merge i
  jobs=$(sweep "$CLI_TMP/b/table-3-smoke.h5" --max-parallel 1) && [ -n "$jobs" ] || return 1
  read -r array merge <<< "$jobs"
  for ((i = 0; i < WAIT_JOBS_S; i++)); do
    [ -f "$CLI_TMP/b/table-3-smoke.runs/$first.h5" ] && break
    [ -z "$(/usr/bin/squeue -h -j "$array" 2>/dev/null)" ] && break
    sleep 1
  done
  /usr/bin/scancel "$array"
  wait_jobs "$array" "$merge" || return 1
  # the merge job ran after the cancelled array: the first run is in the table
  "$LBBT" inspect "$CLI_TMP/b/table-3-smoke.h5" | grep -q "$first" || { cat "$CLI_TMP/b/table-3-smoke.runs"/slurm-*.out; return 1; }
  jobs=$(sweep "$CLI_TMP/b/table-3-smoke.h5")
  grep -q "2 runs: 0 to run, 0 to merge, 2 complete\|2 runs: 1 to run, 0 to merge, 1 complete" "$CLI_TMP/submit.log" || {
    cat "$CLI_TMP/submit.log"; return 1; }
  [ -z "$jobs" ] || wait_jobs $jobs || return 1
  same_run_items "$CLI_TMP/plain/table-3-smoke.h5" "$CLI_TMP/b/table-3-smoke.h5" $ids
}
check killed_task_rerun killed_task_rerun
stop_slurm
