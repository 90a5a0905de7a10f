# shellcheck shell=bash
# tests/cluster/soaklib.sh: the fault soak, sourced after lib.sh by soak_short.sh and
# tests/soak/fault_soak.sh. Nothing acknowledged may be lost by a fault (docs/errors.md):
# a sender makes numbered messages, receivers take them, and receivers are killed (and,
# across nodes, links cut) while they do; at the end every message a msgsnd acknowledged
# must have been received once (or still be in the queue).
#
#   soak_run MODE SECONDS KILL_MS SIG CUT_S RECEIVERS
#     MODE   dipc:  a 3-node cluster must be up (cluster_up 3 --set
#                   debug.fault_injection=true ...): the queue is owned by node2, its sender
#                   runs there, the RECEIVERS receivers on node3 (every receive remote);
#                   every CUT_S seconds (0: never) node3 cuts its link to node2
#                   (dipc fault node2 cut: node2 declared dead for node3, the receivers'
#                   calls get EIDRM and they look the queue up again).
#            plain: the same programs in one private IPC namespace, without DIPC.
#     every KILL_MS one receiver (in turn) gets signal SIG (KILL or TERM) and a new one starts.
#   Prints "acked A received R lost L dup D kills K cuts C" (R counts distinct messages
#   received, in the receivers' output or drained from the queue at the end).
# Each process is bounded by timeout; every loop is bounded in count and time.

# _soak_start MODE WHERE NAME CMD...: CMD in the background, its pid file and output named
# after NAME; sets SOAK_JOB (the timeout process).
_soak_start() {
  local mode=$1 where=$2 name=$3
  shift 3
  local out=$SCRATCH/soak.$name.out pidf=$SCRATCH/soak.$name.pid life=$((SOAK_SECONDS + 90))
  rm -f "$pidf"
  if [[ $mode == dipc ]]; then
    timeout "$life" "$DIPC" cluster exec "$where" --dir "$DIR" -- env SOAKQ_PIDFILE="$pidf" \
      "$@" </dev/null >"$out" 2>>"$SCRATCH/soak.err" &
  else
    timeout "$life" nsenter --ipc="$SOAK_NS" env -u LD_PRELOAD -u DIPC_RUNDIR \
      SOAKQ_PIDFILE="$pidf" "$@" </dev/null >"$out" 2>>"$SCRATCH/soak.err" &
  fi
  SOAK_JOB=$!
  _BG_PIDS+=("$SOAK_JOB")
}

# _soak_pid NAME: the soakq process of NAME (from its pid file, checked against /proc).
_soak_pid() {
  local f=$SCRATCH/soak.$1.pid pid
  wait_for "[[ -s '$f' ]]" 10 || return 1
  pid=$(tr -dc '0-9' <"$f")
  [[ -n "$pid" && -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "soakq" || return 1
  echo "$pid"
}

soak_run() {
  local mode=$1 secs=$2 kill_ms=$3 sig=$4 cut_s=$5 nrecv=$6
  local key=$((0x50a0000 + RANDOM)) i pid end next_cut kills=0 cuts=0 turn=0
  local -a rjob rname
  SOAK_SECONDS=$secs
  local tag=$mode$key # soak_run runs in $(...): a counter here would not survive it
  if [[ $mode == plain ]]; then
    SOAK_NS=$SCRATCH/soak.ipcns.$tag
    touch "$SOAK_NS"
    unshare --ipc="$SOAK_NS" true || fail "cannot make an IPC namespace for the plain soak"
  fi
  local owner=node2 rnode=node3
  _soak_start "$mode" "$owner" "$tag.send" "$PROGS/soakq" send "$key" 1000000000 200
  local sjob=$SOAK_JOB
  _soak_pid "$tag.send" >/dev/null || fail "the soak's sender did not start"
  for ((i = 0; i < nrecv; i++)); do
    rname[i]=$tag.r$i.0
    _soak_start "$mode" "$rnode" "${rname[i]}" "$PROGS/soakq" recv "$key"
    rjob[i]=$SOAK_JOB
  done
  end=$(($(now_ms) + secs * 1000))
  next_cut=$(($(now_ms) + cut_s * 1000))
  local max=$((secs * 1000 / kill_ms + 10)) n=0
  while (($(now_ms) < end && n < max)); do
    n=$((n + 1))
    sleep "$(awk -v m="$kill_ms" 'BEGIN { printf "%.3f", m / 1000 }')"
    i=$((turn % nrecv))
    turn=$((turn + 1))
    if pid=$(_soak_pid "${rname[i]}"); then
      kill -s "$sig" "$pid" 2>/dev/null && kills=$((kills + 1))
    fi
    wait "${rjob[i]}" 2>/dev/null || true
    rname[i]=$tag.r$i.$n
    _soak_start "$mode" "$rnode" "${rname[i]}" "$PROGS/soakq" recv "$key"
    rjob[i]=$SOAK_JOB
    if [[ $mode == dipc ]] && ((cut_s > 0 && $(now_ms) >= next_cut)); then
      on "$rnode" "$DIPC" fault "$owner" cut >/dev/null 2>&1 && cuts=$((cuts + 1))
      next_cut=$(($(now_ms) + cut_s * 1000))
    fi
  done
  # The end: the sender stops, then the receivers (SIGTERM loses nothing), then the rest
  # is drained from the queue at its owner.
  if pid=$(_soak_pid "$tag.send"); then kill -TERM "$pid" 2>/dev/null || true; fi
  wait "$sjob" 2>/dev/null || true
  for ((i = 0; i < nrecv; i++)); do
    if pid=$(_soak_pid "${rname[i]}"); then kill -TERM "$pid" 2>/dev/null || true; fi
    wait "${rjob[i]}" 2>/dev/null || true
  done
  _soak_start "$mode" "$owner" "$tag.drain" "$PROGS/soakq" drain "$key"
  wait "$SOAK_JOB" 2>/dev/null || true
  [[ $mode == plain ]] && umount "$SOAK_NS" 2>/dev/null
  grep -qx DONE "$SCRATCH/soak.$tag.send.out" || fail "the soak's sender did not finish"
  local acked=$SCRATCH/soak.$tag.acked got=$SCRATCH/soak.$tag.got
  awk '$1 == "S" { print $2 }' "$SCRATCH/soak.$tag.send.out" | sort -n >"$acked"
  cat "$SCRATCH"/soak."$tag".r*.out "$SCRATCH/soak.$tag.drain.out" |
    awk '$1 == "R" { print $2 }' | sort -n >"$got"
  local a r l d
  a=$(wc -l <"$acked")
  r=$(uniq "$got" | wc -l)
  l=$(comm -23 "$acked" <(uniq "$got") | wc -l)
  d=$(uniq -d "$got" | wc -l)
  echo "acked $a received $r lost $l dup $d kills $kills cuts $cuts"
}
