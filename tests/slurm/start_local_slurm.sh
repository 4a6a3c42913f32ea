#!/usr/bin/env bash
# A real single-node Slurm on this machine for the tests (tests/test_slurm.py): installs munge,
# slurmctld, slurmd and the Slurm client commands from Debian when they are missing, writes a
# slurm.conf for this machine (no accounting daemon: job status comes from squeue, and MinJobAge
# keeps finished jobs visible to it for an hour), and starts munged, slurmctld and slurmd
# directly (containers have no systemd). Idempotent: a running local Slurm is left as it is.
#
#   bash tests/slurm/start_local_slurm.sh          # install if needed, configure, start, wait
#   bash tests/slurm/start_local_slurm.sh --stop   # stop the daemons this script started
#
# Exit status 0 when `sinfo` shows the node idle; otherwise non-zero with the reason on stderr.
set -euo pipefail

CONF=/etc/slurm/slurm.conf
MARK="# written by hccfusion tests/slurm/start_local_slurm.sh"
PACKAGES=(munge slurmctld slurmd slurm-client)

say() { echo "start_local_slurm: $*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@";
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@";
    else say "needs root (or password-less sudo) for: $*"; exit 2; fi
}

stop() {
    for pidfile in /run/slurmd.pid /run/slurmctld.pid /run/munge/munged.pid; do
        if [ -s "$pidfile" ]; then as_root kill "$(cat "$pidfile")" 2>/dev/null || true; fi
    done
}

node_state() { timeout 10 sinfo -h -N -o '%T' 2>/dev/null | head -n1 || true; }

if [ "${1:-}" = "--stop" ]; then stop; exit 0; fi

# 1. Packages (Debian); skipped when everything is already installed.
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi

# 2. Already up (this script ran before, or a real cluster): nothing to do.
state=$(node_state)
case "$state" in
    idle|mixed|allocated|completing) say "Slurm is up (node $state)"; exit 0 ;;
esac

# 3. Configuration for this machine. A slurm.conf this script did not write is never replaced.
if [ -e "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    say "$CONF exists and was not written by this script; not touching it"; exit 3
fi
node=$(hostname -s)
# slurmd -C reports what slurmd will detect; RealMemory is kept 10 % below it so the node is
# never rejected for having less memory than configured.
hw=$(slurmd -C | head -n1)
cpus=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$hw")
sockets=$(sed -n 's/.* SocketsPerBoard=\([0-9]*\).*/\1/p' <<<"$hw")
cores=$(sed -n 's/.* CoresPerSocket=\([0-9]*\).*/\1/p' <<<"$hw")
threads=$(sed -n 's/.* ThreadsPerCore=\([0-9]*\).*/\1/p' <<<"$hw")
mem=$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")
mem=$((mem * 9 / 10))
as_root mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
as_root tee "$CONF" >/dev/null <<EOF
$MARK
# Single-node test cluster: one partition, no accounting storage, no cgroups.
ClusterName=hccfusion
SlurmctldHost=${node}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
# Finished jobs stay visible to squeue/scontrol for an hour: the Snakemake executor reads job
# states from squeue when there is no accounting database.
MinJobAge=3600
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=${node} NodeAddr=127.0.0.1 CPUs=${cpus} SocketsPerBoard=${sockets} CoresPerSocket=${cores} ThreadsPerCore=${threads} RealMemory=${mem} State=UNKNOWN
PartitionName=main Nodes=${node} Default=YES MaxTime=INFINITE State=UP
EOF

# 4. Daemons: munge (with the key the Debian package generated), then slurmctld and slurmd.
if [ ! -s /etc/munge/munge.key ]; then as_root mungekey --create --force; fi
as_root chown munge:munge /etc/munge/munge.key /run/munge
as_root chmod 400 /etc/munge/munge.key
if ! munge -n >/dev/null 2>&1; then
    as_root runuser -u munge -- /usr/sbin/munged
fi
stop_pid() { [ -s "$1" ] && as_root kill "$(cat "$1")" 2>/dev/null || true; }
stop_pid /run/slurmd.pid
stop_pid /run/slurmctld.pid
sleep 1
as_root slurmctld
as_root slurmd

# 5. Wait until the node takes jobs.
for _ in $(seq 60); do
    state=$(node_state)
    case "$state" in
        idle|mixed|allocated) say "Slurm is up (node $node $state, $cpus CPUs, ${mem} MB)"; exit 0 ;;
        down*|drain*) as_root scontrol update NodeName="$node" State=RESUME 2>/dev/null || true ;;
    esac
    sleep 1
done
say "the node did not become idle (state '${state}'); logs: /var/log/slurm/"
tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
exit 4
