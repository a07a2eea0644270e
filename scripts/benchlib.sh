# shellcheck shell=bash
# benchlib.sh — shared measuring for scripts/bench-*.sh (issue 14). SOURCE IT:
#
#   . "$(dirname "$0")/benchlib.sh"
#   bench_lock "$@"                 # re-exec this script under flock /tmp/etcdmedic-bench.lock
#   bench_init                      # results file, header line (load average, cores)
#   BENCH_ETCD_METRICS="http://127.0.0.1:2379/metrics http://127.0.0.1:22379/metrics"
#   for r in $(seq "$ROUNDS"); do   # alternate the contenders (flip the order every other round)
#     bench_run etcdmedic "$em" status -o json --endpoints "$ep"
#     bench_run etcdctl   "$ctl" endpoint status --cluster -w json --endpoints "$ep"
#     bench_run control   "$ctl" endpoint status --cluster -w json --endpoints "$ep"
#   done
#   bench_summary                   # medians (min–max) per contender, every column
#   bench_ratio etcdmedic etcdctl 1.3            # wall ratio of medians, "met"/"MISSED"
#   bench_ratio etcdmedic etcdctl 1.5 etcd_cpu   # any column: wall cpu etcd_cpu anon file maxrss
#   bench_ratio control   etcdctl -              # "-": no target, printed as (reference)
#
# What bench_run measures, for ONE run of CMD (a child process):
#   wall      seconds from fork to exit (the parent blocks in wait4; no polling slack)
#   cpu       the child's user+sys seconds (wait4's rusage: its own threads and children)
#   etcd_cpu  seconds of CPU the etcd members spent meanwhile: the sum over
#             $BENCH_ETCD_METRICS of the member's own process_cpu_seconds_total,
#             scraped before and after (10 ms resolution: it counts clock ticks;
#             each scrape costs the member ~1 ms, the same for every contender —
#             compare with a control). TLS: BENCH_ETCD_CACERT/CERT/KEY.
#   anon      peak private RSS (RssAnon) in MB  } sampled from /proc/PID/status every
#   file      peak file-backed RSS (RssFile) MB } $BENCH_SAMPLE_MS ms (default 2; a
#             peak shorter than that can be missed; 0 turns sampling off)
#   maxrss    peak total RSS in MB, exact (the kernel's high-water mark, ru_maxrss = VmHWM;
#             CMD runs as a child of /usr/bin/time, whose ~2 MB is the floor)
#   load      1-minute load average when the run ended
# Per run env: BENCH_STDOUT=FILE keeps CMD's stdout (default /dev/null: writing
# output to disk would be timed too); BENCH_OK_EXIT="0 1" accepts those exit
# codes (default 0); any other exit code prints CMD's stderr and fails the script.
# One line per run is printed ("  NAME  wall … cpu … etcd cpu … rss anon … file … max … load …")
# and appended to $BENCH_RESULTS (TSV: name wall cpu etcd_cpu anon file maxrss load).
#
# bench_etcdmedic OUT [go build args…] prints the path of the etcdmedic to
# measure: $ETCDMEDIC_BIN when set (the smoke test builds one binary for every
# bench instead of one build per script), else OUT, built from this tree.
#
# BENCH_LOCK=0 skips the lock (the smoke test, scripts/bench_smoke_test.go, runs
# every bench with tiny sizes and checks these columns; it must not wait for a
# long benchmark, and a tiny run disturbs little). Needs python3 (the measuring
# runs there: getrusage and /proc sampling in bash would cost more than it measures).

# bench_lock "$@": run the rest of the calling script holding the shared
# benchmark lock, so benchmarks of different engineers do not trample each other.
bench_lock() {
  if [[ "${BENCH_LOCK:-1}" != 0 && -z "${BENCH_LOCK_HELD:-}" ]]; then
    export BENCH_LOCK_HELD=1
    echo "bench: waiting for /tmp/etcdmedic-bench.lock" >&2
    exec flock /tmp/etcdmedic-bench.lock "$0" "$@"
  fi
}

# bench_init: a fresh results file (under $BENCH_WORK when set) and the header.
bench_init() {
  BENCH_RESULTS=$(mktemp "${BENCH_WORK:-${TMPDIR:-/tmp}}/bench-results.XXXXXX")
  export BENCH_RESULTS
  echo "bench: load $(bench_load), $(nproc) cores, $(date -u +%FT%TZ)"
}

# bench_etcdmedic OUT [go build args…]: see the header.
bench_etcdmedic() {
  local out=$1
  shift
  if [[ -n "${ETCDMEDIC_BIN:-}" ]]; then
    echo "$ETCDMEDIC_BIN"
    return
  fi
  go build "$@" -o "$out" ./cmd/etcdmedic >&2
  echo "$out"
}

# bench_release_etcdmedic OUT: bench_etcdmedic built as goreleaser.yaml
# builds the release (static, slim, stripped): the binary users run, whose
# own pages count in its RSS (the 98 MB test build maps about 50 MB of
# itself). Without CGO_ENABLED=0 it would link dynamically with cgo and start
# 1–3 ms slower than what ships.
bench_release_etcdmedic() { CGO_ENABLED=0 bench_etcdmedic "$1" -trimpath -tags slim,grpcnotrace -ldflags '-s -w'; }

# bench_start_etcd DIR [FLAGS…]: one etcd member ($BIN/etcd, logging to
# $BENCH_WORK/etcd.log) on DIR, on free ports, waited for with $BIN/etcdctl;
# sets ep and etcd_pid. bench_stop_etcd stops it (safe when none runs).
bench_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# bench_listens PID PORT: PID holds the listening TCP socket on 127.0.0.1:PORT.
bench_listens() {
  python3 - "$1" "$2" <<'PY'
import os, sys
pid, port = sys.argv[1], int(sys.argv[2])
inodes = set()
for fd in os.listdir(f"/proc/{pid}/fd"):
    try:
        link = os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        continue
    if link.startswith("socket:["):
        inodes.add(link[8:-1])
with open("/proc/net/tcp") as f:
    for line in f.readlines()[1:]:
        cols = line.split()
        if int(cols[1].split(":")[1], 16) == port and cols[3] == "0A" and cols[9] in inodes:
            sys.exit(0)
sys.exit(1)
PY
}
bench_start_etcd() {
  local dir=$1 cport pport
  shift
  cport=$(bench_port) pport=$(bench_port)
  ep=http://127.0.0.1:$cport
  "$BIN/etcd" --name bench --data-dir "$dir" --listen-client-urls "$ep" --advertise-client-urls "$ep" \
    --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
    --initial-cluster "bench=http://127.0.0.1:$pport" --quota-backend-bytes $((16 << 30)) \
    --log-level error "$@" >>"$BENCH_WORK/etcd.log" 2>&1 &
  etcd_pid=$!
  for _ in $(seq 300); do
    # bench_port frees the port before etcd binds it: another bench may have
    # taken it meanwhile, so the etcd that answers must be ours.
    "$BIN/etcdctl" --endpoints "$ep" endpoint health >/dev/null 2>&1 && bench_listens "$etcd_pid" "$cport" && return 0
    kill -0 "$etcd_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "etcd did not start on $dir:" >&2
  tail -20 "$BENCH_WORK/etcd.log" >&2
  exit 1
}
bench_stop_etcd() {
  if [ -n "${etcd_pid:-}" ]; then
    kill "$etcd_pid" 2>/dev/null || true
    wait "$etcd_pid" 2>/dev/null || true
    etcd_pid=
  fi
}

# bench_load: the three load averages.
bench_load() { cut -d' ' -f1-3 /proc/loadavg; }

# bench_etcd_cpu: the members' summed process_cpu_seconds_total now.
bench_etcd_cpu() { python3 -c "$_BENCHLIB_PY" etcdcpu; }

# bench_run NAME CMD...: one measured run (see the header).
bench_run() {
  [[ -n "${BENCH_RESULTS:-}" ]] || bench_init >/dev/null
  python3 -c "$_BENCHLIB_PY" run "$@"
}

# bench_summary: medians (min–max) per contender over the runs so far.
bench_summary() { python3 -c "$_BENCHLIB_PY" summary; }

# bench_ratio A B TARGET [COLUMN]: median(A)/median(B) of COLUMN (default
# wall); TARGET is the highest ratio that passes, or "-" for none.
bench_ratio() { python3 -c "$_BENCHLIB_PY" ratio "$@"; }

read -r -d '' _BENCHLIB_PY <<'PYEOF' || true
import os, ssl, statistics, subprocess, sys, threading, time, urllib.request

COLS = ["wall", "cpu", "etcd_cpu", "anon", "file", "maxrss", "load"]

def load1():
    return float(open("/proc/loadavg").read().split()[0])

def etcd_cpu():
    urls = os.environ.get("BENCH_ETCD_METRICS", "").split()
    if not urls:
        return None
    ctx = None
    if os.environ.get("BENCH_ETCD_CACERT"):
        ctx = ssl.create_default_context(cafile=os.environ["BENCH_ETCD_CACERT"])
        if os.environ.get("BENCH_ETCD_CERT"):
            ctx.load_cert_chain(os.environ["BENCH_ETCD_CERT"], os.environ.get("BENCH_ETCD_KEY"))
    total = 0.0
    for u in urls:
        with urllib.request.urlopen(u, timeout=10, context=ctx) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("process_cpu_seconds_total "):
                    total += float(line.split()[1])
                    break
            else:
                sys.exit(f"bench: no process_cpu_seconds_total at {u}")
    return total

def sample(tpid, peak, stop, every):
    path = None
    while not stop.wait(every):
        try:
            if path is None:  # CMD is the child of /usr/bin/time (see run)
                kids = open(f"/proc/{tpid}/task/{tpid}/children").read().split()
                if not kids:
                    continue
                path = f"/proc/{kids[0]}/status"
            with open(path) as f:
                for line in f:
                    k = line.split(":", 1)[0]
                    if k in ("RssAnon", "RssFile"):
                        peak[k] = max(peak[k], int(line.split()[1]))
        except OSError:
            return

def run(name, argv):
    if not argv:
        sys.exit("bench_run NAME CMD...")
    ok = {int(c) for c in os.environ.get("BENCH_OK_EXIT", "0").split()}
    every = float(os.environ.get("BENCH_SAMPLE_MS", "2")) / 1000
    out = open(os.environ.get("BENCH_STDOUT", "/dev/null"), "wb")
    err = open(os.environ["BENCH_RESULTS"] + ".stderr", "w+b")
    c0 = etcd_cpu()
    peak, stop = {"RssAnon": 0, "RssFile": 0}, threading.Event()
    t0 = time.perf_counter()
    # /usr/bin/time forks CMD: a child's high-water mark starts at its parent's
    # RSS when it forks (exec keeps the old mm's peak), so from python it would
    # never read below ~20 MB; from time it starts at ~2 MB (time's %M is its
    # child's ru_maxrss; python's wait4 of time would be python's again). Its own CPU and its
    # fork/exec (well under 1 ms) are in every contender's figures alike.
    rssf = os.environ["BENCH_RESULTS"] + ".maxrss"
    p = subprocess.Popen(["/usr/bin/time", "-o", rssf, "-f", "%M"] + argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    th = None
    if every > 0:
        th = threading.Thread(target=sample, args=(p.pid, peak, stop, every), daemon=True)
        th.start()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    stop.set()
    if th:
        th.join()
    c1 = etcd_cpu()
    if p.returncode not in ok:
        err.seek(0)
        sys.stderr.write(err.read().decode(errors="replace"))
        sys.exit(f"bench: {name}: {' '.join(argv[:3])}…: exit {p.returncode}")
    rec = {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime,
           "etcd_cpu": (c1 - c0) if c0 is not None else float("nan"),
           "anon": peak["RssAnon"] / 1024, "file": peak["RssFile"] / 1024,
           "maxrss": int(open(rssf).read().split()[-1]) / 1024, "load": load1()}
    with open(os.environ["BENCH_RESULTS"], "a") as f:
        f.write("\t".join([name] + [repr(rec[c]) for c in COLS]) + "\n")
    print(f"  {name:24} " + line(rec), flush=True)

def fmt(c, v):
    if v != v:  # nan: not measured
        return "-"
    return {"wall": f"{v:.3f} s", "cpu": f"{v:.3f} s", "etcd_cpu": f"{v:.2f} s",
            "load": f"{v:.2f}"}.get(c, f"{v:.1f} MB")

LABEL = {"wall": "wall", "cpu": "cpu", "etcd_cpu": "etcd cpu", "anon": "rss anon",
         "file": "file", "maxrss": "max", "load": "load"}

def line(rec):
    return "  ".join(f"{LABEL[c]} {fmt(c, rec[c])}" for c in COLS)

def records():
    by = {}
    for l in open(os.environ["BENCH_RESULTS"]):
        f = l.rstrip("\n").split("\t")
        by.setdefault(f[0], []).append(dict(zip(COLS, map(float, f[1:]))))
    return by

def med(rs, c):
    vs = [r[c] for r in rs if r[c] == r[c]]
    return (statistics.median(vs), min(vs), max(vs)) if vs else (float("nan"),) * 3

def summary():
    by = records()
    loads = [r["load"] for rs in by.values() for r in rs]
    print(f"\nmedians (min–max) over {max(len(v) for v in by.values())} rounds; "
          f"load {min(loads):.2f}–{max(loads):.2f} during the runs, now {load1():.2f}, {os.cpu_count()} cores")
    for name, rs in by.items():
        cells = []
        for c in COLS[:-1]:
            m, lo, hi = med(rs, c)
            cells.append(f"{LABEL[c]} {fmt(c, m)} ({fmt(c, lo).split()[0]}–{fmt(c, hi).split()[0]})")
        print(f"  {name:24} " + "  ".join(cells))

def ratio(a, b, target, col="wall"):
    by = records()
    if col not in COLS:
        sys.exit(f"bench_ratio: no column {col} (have {' '.join(COLS)})")
    if a not in by or b not in by:
        sys.exit(f"bench_ratio: no runs of {a if a not in by else b}")
    ma, mb = med(by[a], col)[0], med(by[b], col)[0]
    if mb != mb or ma != ma or mb == 0:
        r, txt = float("nan"), "  n/a"
    else:
        r = ma / mb
        txt = f"{r:5.2f}x"
    if target == "-":
        verdict = "(reference)"
    elif r != r:
        verdict = f"target <= {float(target):.2f}x: not measured"
    else:
        verdict = f"target <= {float(target):.2f}x: " + ("met" if r <= float(target) else "MISSED")
    print(f"  {a:24} / {b:20} {LABEL[col]:8} {txt}  {verdict}")

cmd = sys.argv[1]
if cmd == "run":
    run(sys.argv[2] if len(sys.argv) > 2 else "", sys.argv[3:])
elif cmd == "summary":
    summary()
elif cmd == "ratio":
    ratio(*sys.argv[2:])
elif cmd == "etcdcpu":
    print(etcd_cpu())
PYEOF
