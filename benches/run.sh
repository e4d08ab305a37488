#!/usr/bin/env bash
# keytrail performance benchmark (issue 11). See benches/README.md.
#
#   benches/run.sh [--sparse N] [--dense N,N,...] [--seed N] [--runs N] [--dense-runs N]
#                  [--threads N] [--no-build] [--no-chdb] [--no-s3] [--no-lookup]
#                  [--perf CORPUS] [--label TEXT] [--results FILE]
#
# One run measures, for each corpus, with a warm page cache, wall time and peak RSS
# (/usr/bin/time -f '%e %M'):
#   inflate floor   examples/inflate_floor.rs: inflate every file (flate2/zlib-rs), nothing else
#   keytrail scan   every built-in rule, --format json --output FILE
#   keytrail events no rules (the rule pack's cost is scan - events), --format ndjson --output FILE
#   chDB            benches/chdb_select.py: the same Bedrock-relevant selection in one
#                   ClickHouse query over the gzip JSON files (PyPI chdb, pinned, in a venv)
# and, on the sparse corpus, keytrail scan s3:// against the bench's S3 server
# (examples/s3_serve.rs, s3s-fs and --lean) and the LookupEvents benchmark
# (benches/lookup.rs). It prints one table with the ratios (scan / floor, chDB / scan,
# S3 / local throughput, peak RSS per corpus size), checks the targets, and writes it all to
# the results file.
#
# Corpora (benches/gen_corpus.py, reused when their MANIFEST.json matches):
#   --sparse N     N events, 0.5 % Bedrock-relevant (default 1000000; 0 = none)
#   --dense LIST   comma-separated sizes, every event a bearer-token call (relevant rate 1,
#                  mix "bearer"; default 1000000,3000000,10000000; "none" = none)
# Options:
#   --seed N         generator seed (42)
#   --runs N         runs per command on the sparse corpus, best wall time kept (3)
#   --dense-runs N   runs per command on dense corpora (1)
#   --threads N      threads for the inflate floor, chDB and keytrail (RAYON_NUM_THREADS,
#                    POLARS_MAX_THREADS) (2)
#   --no-build       do not run cargo; use the binaries already built
#   --no-chdb        skip chDB;  --no-s3  skip the S3 scans;  --no-lookup  skip LookupEvents
#   --perf CORPUS    also record `perf record -g` of keytrail scan on CORPUS (a name from the
#                    table, e.g. sparse-1m or dense-1m) and print `perf report --stdio` top lines
#   --profile NAME   the cargo profile to build and time (profiling; `dev` to check the
#                    script's mechanics quickly on small corpora: its numbers mean nothing)
#   --label TEXT     a label for the results (e.g. "before: main e3c02bd")
#   --results FILE   where the results go (default $KEYTRAIL_BENCH_TMP/kt-bench-results.txt)
#
# Environment: CARGO_TARGET_DIR (default $HOME/.cache/keytrail/target), KEYTRAIL_BIN (time
# this keytrail binary instead of the one built), KEYTRAIL_BENCH_DIR (corpora, default
# $HOME/.cache/keytrail/bench-corpus), KEYTRAIL_BENCH_TMP (outputs, default /tmp),
# KEYTRAIL_BENCH_VENV (chDB's venv, default $HOME/.cache/keytrail/bench-venv),
# KEYTRAIL_BENCH_RSS_CAP_MB (a command whose processes together pass this RSS is killed and
# reported as such; default half the machine's memory), KEYTRAIL_BENCH_S3_PORT (19000),
# KEYTRAIL_DATASETS (real CloudTrail for the generator).
#
# Build: cargo build --profile profiling --bins --examples, then
# cargo bench --profile profiling --bench lookup --no-run (the profiling profile is release
# with line tables, so perf can name source lines). The binaries are copied to
# $KEYTRAIL_BENCH_TMP/keytrail-bench-bin/ first: another build may replace the originals.
# No jq anywhere: JSON is read with python3 (3.11+).
set -euo pipefail

SPARSE=1000000
DENSE="1000000,3000000,10000000"
SEED=42
RUNS=3
DENSE_RUNS=1
THREADS=2
BUILD=1
CHDB=1
S3=1
LOOKUP=1
PERF=""
LABEL=""
RESULTS=""
CHDB_VERSION="4.4.0"
PROFILE="profiling"

usage() { sed -n '2,52p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    arg="$1"; val=""
    case "$arg" in
        --*=*) val="${arg#*=}"; arg="${arg%%=*}" ;;
    esac
    case "$arg" in
        --sparse|--dense|--seed|--runs|--dense-runs|--threads|--perf|--label|--results|--profile)
            if [ -z "$val" ]; then
                [ $# -ge 2 ] || { echo "run.sh: $arg needs a value (try --help)" >&2; exit 2; }
                val="$2"; shift
            fi
            case "$arg" in
                --sparse) SPARSE="$val" ;;
                --dense) DENSE="$val" ;;
                --seed) SEED="$val" ;;
                --runs) RUNS="$val" ;;
                --dense-runs) DENSE_RUNS="$val" ;;
                --threads) THREADS="$val" ;;
                --perf) PERF="$val" ;;
                --label) LABEL="$val" ;;
                --results) RESULTS="$val" ;;
                --profile) PROFILE="$val" ;;
            esac
            shift ;;
        --no-build) BUILD=0; shift ;;
        --no-chdb) CHDB=0; shift ;;
        --no-s3) S3=0; shift ;;
        --no-lookup) LOOKUP=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
done
[ "$DENSE" = "none" ] && DENSE=""
for v in SPARSE SEED RUNS DENSE_RUNS THREADS; do
    case "${!v}" in ''|*[!0-9]*) echo "run.sh: --${v,,} must be a non-negative integer, not '${!v}'" >&2; exit 2 ;; esac
done
case "$DENSE" in *[!0-9,]*) echo "run.sh: --dense takes sizes such as 1000000,3000000 (or none), not '$DENSE'" >&2; exit 2 ;; esac
[ "$RUNS" -ge 1 ] && [ "$DENSE_RUNS" -ge 1 ] && [ "$THREADS" -ge 1 ] \
    || { echo "run.sh: --runs, --dense-runs and --threads must be >= 1" >&2; exit 2; }

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$REPO/benches"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/keytrail/target}"
case "$PROFILE" in dev|test) BUILT="$CARGO_TARGET_DIR/debug" ;; *) BUILT="$CARGO_TARGET_DIR/$PROFILE" ;; esac
BIN="${KEYTRAIL_BIN:-$BUILT/keytrail}"
CORPORA="${KEYTRAIL_BENCH_DIR:-$HOME/.cache/keytrail/bench-corpus}"
OUT="${KEYTRAIL_BENCH_TMP:-/tmp}"
RESULTS="${RESULTS:-$OUT/kt-bench-results.txt}"
VENV="${KEYTRAIL_BENCH_VENV:-$HOME/.cache/keytrail/bench-venv}"
MEM_KB="$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)"
RSS_CAP_MB="${KEYTRAIL_BENCH_RSS_CAP_MB:-$((MEM_KB / 2048))}"
STATUS=0
mkdir -p "$OUT" "$CORPORA"

say() { printf '\n== %s\n' "$*"; }
note() { echo "run.sh: $*" >&2; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0 || a == "" || b == "") print "nan"; else printf "%.6f\n", a / b }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
q() { printf '%q' "$1"; }
# name_of N: 1000000 -> 1m, 3000000 -> 3m, 20000 -> 20k, others as they are
name_of() {
    local n="$1"
    if [ $((n % 1000000)) -eq 0 ]; then echo "$((n / 1000000))m"
    elif [ $((n % 1000)) -eq 0 ]; then echo "$((n / 1000))k"
    else echo "$n"; fi
}

# --- tools ---------------------------------------------------------------------------
apt_install() {
    local pkg="$1" sudo=""
    note "installing the Debian package '$pkg'"
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 && sudo="sudo" \
            || { note "'$pkg' is missing and I am not root: apt-get install -y $pkg"; exit 1; }
    fi
    $sudo apt-get install -y "$pkg" >/dev/null 2>&1 \
        || { $sudo apt-get update >/dev/null && $sudo apt-get install -y "$pkg" >/dev/null; }
}
[ -x /usr/bin/time ] || apt_install time
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
    || { note "python3 3.11 or newer is required (the generator and the JSON checks)"; exit 1; }
if [ -n "$PERF" ] && ! command -v perf >/dev/null 2>&1; then apt_install linux-perf; fi

# --- corpora: names, sizes, disk -------------------------------------------------------
CORPUS_NAMES=()          # in the order they are measured
declare -A C_EVENTS C_RATE C_MIX C_DIR
if [ "$SPARSE" -gt 0 ]; then
    c="sparse-$(name_of "$SPARSE")"
    CORPUS_NAMES+=("$c"); C_EVENTS[$c]="$SPARSE"; C_RATE[$c]="0.005"; C_MIX[$c]="all"
fi
IFS=',' read -r -a dense_sizes <<<"$DENSE"
for n in "${dense_sizes[@]}"; do
    [ -n "$n" ] && [ "$n" -gt 0 ] || continue
    c="dense-$(name_of "$n")"
    CORPUS_NAMES+=("$c"); C_EVENTS[$c]="$n"; C_RATE[$c]="1"; C_MIX[$c]="bearer"
done
[ "${#CORPUS_NAMES[@]}" -gt 0 ] || { note "no corpus to measure (--sparse 0 and --dense none)"; exit 2; }
for c in "${CORPUS_NAMES[@]}"; do C_DIR[$c]="$CORPORA/$c"; done
if [ -n "$PERF" ] && [ -z "${C_DIR[$PERF]:-}" ]; then
    note "--perf $PERF: not one of the corpora of this run (${CORPUS_NAMES[*]})"; exit 2
fi

# manifest_fields DIR: "events relevant files raw_bytes gz_bytes" from DIR/MANIFEST.json
manifest_fields() {
    python3 - "$1/MANIFEST.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print(m["events"], m["relevant_events"], m["files"], m["total_uncompressed_bytes"], m["total_gz_bytes"])
PY
}
# corpus_ready NAME: true when its MANIFEST matches what this run asks for
corpus_ready() {
    local c="$1"
    python3 - "${C_DIR[$c]}/MANIFEST.json" "${C_EVENTS[$c]}" "$SEED" "${C_RATE[$c]}" "${C_MIX[$c]}" <<'PY'
import json, sys
from fractions import Fraction
path, events, seed, rate, mix = sys.argv[1:]
try:
    m = json.load(open(path))
except (OSError, ValueError):
    sys.exit(1)
ok = (m.get("events") == int(events) and m.get("seed") == int(seed)
      and m.get("relevant_rate", "1/200") == str(Fraction(rate)) and m.get("relevant_mix", "all") == mix)
sys.exit(0 if ok else 1)
PY
}

# Disk: corpora not yet generated need their gzip files (~175 bytes per sparse event, ~75 per
# dense one: the JSON itself, ~1.3 and ~1.1 KB per event, is never written uncompressed), and
# the largest corpus's outputs (events NDJSON and chDB's records, ~1.2 KB per selected event)
# are written once at a time and deleted after counting.
need_kb=0; out_kb=0
for c in "${CORPUS_NAMES[@]}"; do
    n="${C_EVENTS[$c]}"
    if ! corpus_ready "$c"; then
        if [ "${C_MIX[$c]}" = "bearer" ]; then need_kb=$((need_kb + n * 75 / 1024)); else need_kb=$((need_kb + n * 175 / 1024)); fi
    fi
    sel=$n; [ "${C_MIX[$c]}" = "bearer" ] || sel=$((n / 200))
    o=$((sel * 1200 / 1024 * 2)); [ "$o" -gt "$out_kb" ] && out_kb=$o
done
avail_corp_kb="$(df -Pk "$CORPORA" | awk 'NR == 2 { print $4 }')"
avail_out_kb="$(df -Pk "$OUT" | awk 'NR == 2 { print $4 }')"
say "disk: corpora need ~$((need_kb / 1024)) MB more in $CORPORA ($((avail_corp_kb / 1024)) MB free); outputs need ~$((out_kb / 1024)) MB at a time in $OUT ($((avail_out_kb / 1024)) MB free)"
if [ $((need_kb + need_kb / 5)) -gt "$avail_corp_kb" ] || [ $((out_kb + out_kb / 5)) -gt "$avail_out_kb" ]; then
    note "not enough free disk for this run (20 % margin included): free space or ask for fewer/smaller corpora (--dense 1000000,3000000)"
    exit 1
fi

# --- build -----------------------------------------------------------------------------
LOOKUP_BENCH=""
if [ "$BUILD" -eq 1 ]; then
    # One build for the binary and the examples (s3_serve, inflate_floor) so features unify once.
    say "cargo build --profile $PROFILE --bins --examples  (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
    (cd "$REPO" && nice cargo build --profile "$PROFILE" --bins --examples) \
        || { note "cargo build failed"; exit 1; }
    if [ "$LOOKUP" -eq 1 ] && [ "$SPARSE" -gt 0 ]; then
        say "cargo bench --profile $PROFILE --bench lookup --no-run"
        LOOKUP_BENCH="$(cd "$REPO" && nice cargo bench --profile "$PROFILE" --bench lookup --no-run --message-format=json \
            | python3 -c '
import json, sys
exe = ""
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "lookup" and m.get("executable"):
        exe = m["executable"]
print(exe)')" || LOOKUP_BENCH=""
    fi
fi
if [ "$LOOKUP" -eq 1 ] && [ -z "$LOOKUP_BENCH" ]; then
    LOOKUP_BENCH="$(find "$BUILT/deps" -maxdepth 1 -type f -name 'lookup-*' ! -name '*.d' -perm -u+x \
        -printf '%T@ %p\n' 2>/dev/null | sort -n | tail -n 1 | cut -d' ' -f2-)"
fi
[ -x "$BIN" ] || { note "no keytrail binary at $BIN (build it, or set KEYTRAIL_BIN)"; exit 1; }
INFLATE="$BUILT/examples/inflate_floor"
S3_SERVE="$BUILT/examples/s3_serve"
[ -x "$INFLATE" ] || { note "no inflate_floor at $INFLATE (cargo build --profile $PROFILE --examples)"; exit 1; }
if [ "$S3" -eq 1 ] && [ ! -x "$S3_SERVE" ]; then note "no s3_serve at $S3_SERVE: the S3 scans are skipped"; S3=0; STATUS=1; fi
# Time private copies: a build in a shared target dir could replace the originals mid-run.
COPY="$OUT/keytrail-bench-bin"
mkdir -p "$COPY"
cp "$BIN" "$COPY/keytrail" && BIN="$COPY/keytrail"
cp "$INFLATE" "$COPY/inflate_floor" && INFLATE="$COPY/inflate_floor"
[ "$S3" -eq 0 ] || { cp "$S3_SERVE" "$COPY/s3_serve" && S3_SERVE="$COPY/s3_serve"; }
if [ -n "$LOOKUP_BENCH" ]; then cp "$LOOKUP_BENCH" "$COPY/lookup-bench" && LOOKUP_BENCH="$COPY/lookup-bench"; fi

# --- chDB --------------------------------------------------------------------------------
CHDB_PY=""
if [ "$CHDB" -eq 1 ]; then
    if ! "$VENV/bin/python" -c "import chdb, sys; sys.exit(chdb.__version__ != '$CHDB_VERSION')" 2>/dev/null; then
        say "installing chdb==$CHDB_VERSION into $VENV"
        { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q "chdb==$CHDB_VERSION"; } \
            || { note "could not install chdb==$CHDB_VERSION into $VENV"; }
    fi
    if "$VENV/bin/python" -c "import chdb" 2>/dev/null; then
        CHDB_PY="$VENV/bin/python"
    else
        note "chDB is not available: its rows are missing and the run fails"; STATUS=1
    fi
fi

# --- measuring ---------------------------------------------------------------------------
# rss_watch PID CAPFILE: every 0.5 s sums the RSS of PID's descendants; above the cap, writes
# the sum to CAPFILE and kills them (the machine is shared: a run must not take it all).
rss_watch() {
    local pid="$1" capfile="$2" cap_kb=$((RSS_CAP_MB * 1024)) line kb pids
    while kill -0 "$pid" 2>/dev/null; do
        line="$(ps -e -o pid=,ppid=,rss= | awk -v root="$pid" '
            { parent[$1] = $2; rss[$1] = $3 }
            END {
                sum = 0; list = ""
                for (p in parent) {
                    q = p
                    while (q in parent && q != root && q > 1) q = parent[q]
                    if (q == root && p != root) { sum += rss[p]; list = list " " p }
                }
                print sum list
            }')"
        kb="${line%% *}"; pids="${line#* }"
        if [ "${kb:-0}" -gt "$cap_kb" ]; then
            echo "$kb" > "$capfile"
            # shellcheck disable=SC2086
            kill -KILL $pids 2>/dev/null || true
            return
        fi
        sleep 0.5
    done
}

# measure RUNS CMD: runs CMD (a bash -o pipefail command line) RUNS times under /usr/bin/time
# with the RSS watch; sets BEST_WALL (min wall s), PEAK_KB (max peak RSS of one process over
# the runs) and KILLED (the RSS in KB at which a run was killed, else empty). Returns 1 when a
# run failed or was killed.
measure() {
    local runs="$1" cmd="$2" i tf capfile line wall kb tp wp rc
    BEST_WALL=""; PEAK_KB=0; KILLED=""
    tf="$(mktemp)"; capfile="$(mktemp)"
    for ((i = 1; i <= runs; i++)); do
        : > "$capfile"
        /usr/bin/time -f '%e %M' -o "$tf" bash -o pipefail -c "$cmd" &
        tp=$!
        rss_watch "$tp" "$capfile" &
        wp=$!
        rc=0; wait "$tp" || rc=$?
        kill "$wp" 2>/dev/null || true; wait "$wp" 2>/dev/null || true
        line="$(tail -n 1 "$tf")"; wall="${line% *}"; kb="${line#* }"
        if [ -s "$capfile" ]; then
            KILLED="$(cat "$capfile")"
            printf '   run %d: KILLED after %.1f s: its processes held %.0f MB, over the %s MB cap\n' \
                "$i" "$wall" "$(div "$KILLED" 1024)" "$RSS_CAP_MB"
            BEST_WALL="$wall"; PEAK_KB="$KILLED"
            rm -f "$tf" "$capfile"; return 1
        fi
        if [ "$rc" -ne 0 ]; then
            note "command failed (exit $rc, run $i): $cmd"; sed 's/^/   /' "$tf" >&2
            rm -f "$tf" "$capfile"; return 1
        fi
        printf '   run %d: %7.2f s  %8.1f MB\n' "$i" "$wall" "$(div "$kb" 1024)"
        if [ -z "$BEST_WALL" ] || lt "$wall" "$BEST_WALL"; then BEST_WALL="$wall"; fi
        if [ "$kb" -gt "$PEAK_KB" ]; then PEAK_KB="$kb"; fi
    done
    rm -f "$tf" "$capfile"
}

# Everything keytrail, the floor and chDB run with the same number of threads.
export RAYON_NUM_THREADS="$THREADS" POLARS_MAX_THREADS="$THREADS"

declare -A R_FLOOR R_FLOOR_KB R_SCAN R_SCAN_KB R_SCAN_KILL R_EVT R_EVT_KB R_EVT_KILL R_CH R_CH_KB R_CH_KILL
declare -A M_EVENTS M_REL M_FILES M_RAW M_GZ L_LOAD
CHECKS=()   # lines for the checks section

# scan_summary FILE: "events_read events_kept findings" of a scan --format json report
scan_summary() {
    python3 - "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
s = d["summary"]
print(s["events_read"], s["events_kept"], len(d["findings"]))
PY
}
# check NAME GOT WANT: records ok/FAIL
check() {
    if [ "$2" = "$3" ]; then CHECKS+=("ok: $1 = $3")
    else CHECKS+=("FAIL: $1 = $2, expected $3"); STATUS=1; fi
}

LOADAVG="$(cut -d' ' -f1-3 /proc/loadavg)"
for c in "${CORPUS_NAMES[@]}"; do
    d="${C_DIR[$c]}"
    say "corpus $c: ${C_EVENTS[$c]} events, relevant rate ${C_RATE[$c]}, mix ${C_MIX[$c]} -> $d"
    python3 "$BENCH/gen_corpus.py" --out "$d" --events "${C_EVENTS[$c]}" --seed "$SEED" \
        --relevant-rate "${C_RATE[$c]}" --relevant-mix "${C_MIX[$c]}"
    read -r M_EVENTS[$c] M_REL[$c] M_FILES[$c] M_RAW[$c] M_GZ[$c] < <(manifest_fields "$d")
    printf '%s: %s events, %s Bedrock-relevant, %s files, %.0f MB JSON, %.0f MB gzipped\n' "$c" \
        "${M_EVENTS[$c]}" "${M_REL[$c]}" "${M_FILES[$c]}" "$(div "${M_RAW[$c]}" 1e6)" "$(div "${M_GZ[$c]}" 1e6)"
    runs="$RUNS"; [ "${C_MIX[$c]}" = "bearer" ] && runs="$DENSE_RUNS"
    L_LOAD[$c]="$(cut -d' ' -f1-3 /proc/loadavg)"
    logs="$d/AWSLogs"

    say "$c: warming the page cache"
    find "$logs" -name '*.json.gz' -print0 | xargs -0 cat > /dev/null

    say "$c: inflate floor, $THREADS threads (best of $runs)"
    if measure "$runs" "$(q "$INFLATE") $(q "$logs") --threads $THREADS"; then
        R_FLOOR[$c]="$BEST_WALL"; R_FLOOR_KB[$c]="$PEAK_KB"
    else STATUS=1; fi

    say "$c: keytrail scan (best of $runs)"
    scan_out="$OUT/kt-scan-$c.json"
    if measure "$runs" "$(q "$BIN") scan $(q "$logs") --quiet --format json --output $(q "$scan_out")"; then
        R_SCAN[$c]="$BEST_WALL"; R_SCAN_KB[$c]="$PEAK_KB"
        read -r s_read s_kept s_findings < <(scan_summary "$scan_out")
        check "$c: keytrail scan events_read" "$s_read" "${M_EVENTS[$c]}"
        check "$c: keytrail scan events_kept" "$s_kept" "${M_REL[$c]}"
        CHECKS+=("    $c: keytrail scan found $s_findings findings ($scan_out)")
    else
        STATUS=1; R_SCAN[$c]="$BEST_WALL"; R_SCAN_KB[$c]="$PEAK_KB"; R_SCAN_KILL[$c]="$KILLED"
    fi

    say "$c: keytrail events, no rules (best of $runs)"
    ev_out="$OUT/kt-events-$c.ndjson"
    if measure "$runs" "$(q "$BIN") events $(q "$logs") --quiet --format ndjson --output $(q "$ev_out")"; then
        R_EVT[$c]="$BEST_WALL"; R_EVT_KB[$c]="$PEAK_KB"
        check "$c: keytrail events lines" "$(wc -l < "$ev_out" | tr -d ' ')" "${M_REL[$c]}"
    else
        STATUS=1; R_EVT[$c]="$BEST_WALL"; R_EVT_KB[$c]="$PEAK_KB"; R_EVT_KILL[$c]="$KILLED"
    fi
    rm -f "$ev_out"

    if [ -n "$CHDB_PY" ]; then
        say "$c: chDB, the same selection (best of $runs)"
        ch_out="$OUT/kt-chdb-$c.txt"
        if measure "$runs" "$(q "$CHDB_PY") $(q "$BENCH/chdb_select.py") $(q "$d") --threads $THREADS --output $(q "$ch_out")"; then
            R_CH[$c]="$BEST_WALL"; R_CH_KB[$c]="$PEAK_KB"
            check "$c: chDB records selected" "$(wc -l < "$ch_out" | tr -d ' ')" "${M_REL[$c]}"
        else
            STATUS=1; R_CH[$c]="$BEST_WALL"; R_CH_KB[$c]="$PEAK_KB"; R_CH_KILL[$c]="$KILLED"
        fi
        rm -f "$ch_out"
    fi
done

# --- S3 (sparse corpus) ----------------------------------------------------------------------
S3_LINES=()
declare -A R_S3 R_S3_KB
S3_PID=""
trap '[ -z "$S3_PID" ] || kill "$S3_PID" 2>/dev/null || true' EXIT
SPARSE_C=""; [ "$SPARSE" -gt 0 ] && SPARSE_C="sparse-$(name_of "$SPARSE")"
S3_AUTH=(--aws-sigv4 "aws:amz:us-east-1:s3" --user "AKIAKEYTRAILBENCH001:keytrail-bench-secret"
         -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
CURL_OK=0
curl --help all 2>/dev/null | grep -q -- --aws-sigv4 && CURL_OK=1

# proc_cpu PID: CPU seconds (user + system) the process has used so far.
proc_cpu() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f\n", ($14 + $15) / t }' "/proc/$1/stat"; }

# curl_configs PORT BUCKET DIR: one curl config per parallel client in DIR (part.*), naming
# every object of the corpus as a URL on 127.0.0.1:PORT, bodies to /dev/null.
curl_configs() {
    local port="$1" bucket="$2" dir="$3" parts=16 i=0
    rm -rf "$dir"; mkdir -p "$dir"
    (cd "$CORPORA" && find "$bucket/AWSLogs" -name '*.json.gz' | sort) |
        while IFS= read -r key; do
            printf 'url = "http://127.0.0.1:%s/%s"\noutput = "/dev/null"\n' "$port" "$key" >> "$dir/part.$((i % parts))"
            i=$((i + 1))
        done
}

# same_findings A B: true when two scan --format json reports hold the same findings
same_findings() {
    python3 - "$1" "$2" <<'PY'
import json, sys
a, b = (json.load(open(p))["findings"] for p in sys.argv[1:3])
sys.exit(0 if a == b else 1)
PY
}

# s3_round LABEL PORT [SERVER FLAGS]: serves the corpora folder (bucket = corpus name) with
# examples/s3_serve, times keytrail scan s3://BUCKET/AWSLogs/ and, with curl, GETs of every
# object by 16 parallel clients (the server's own cost); notes the server's CPU seconds.
s3_round() {
    local label="$1" port="$2"; shift 2
    local c="$SPARSE_C" slug out c0 c1 cdir codes ok
    slug="${label,,}"; slug="${slug//[^a-z0-9]/-}"
    out="$OUT/kt-scan-s3-$slug.json"
    say "local S3 server ($label) on 127.0.0.1:$port serving $CORPORA"
    "$S3_SERVE" "$CORPORA" "$port" "$@" 2>/dev/null &
    S3_PID=$!
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    local env="AWS_ACCESS_KEY_ID=AKIAKEYTRAILBENCH001 AWS_SECRET_ACCESS_KEY=keytrail-bench-secret AWS_REGION=us-east-1 AWS_ENDPOINT_URL_S3=http://127.0.0.1:$port"
    local url="s3://$c/AWSLogs/"
    say "keytrail scan $url, $label (best of $RUNS)"
    c0="$(proc_cpu "$S3_PID")"
    if measure "$RUNS" "env $env $(q "$BIN") scan $(q "$url") --quiet --force-path-style --format json --output $(q "$out")"; then
        c1="$(proc_cpu "$S3_PID")"
        R_S3[$label]="$BEST_WALL"; R_S3_KB[$label]="$PEAK_KB"
        S3_LINES+=("$(printf 'S3 (%s): scan %.2f s, %.0f MB; throughput %.0f%% of local files (local scan %s s); server CPU %.2f s per scan' \
            "$label" "$BEST_WALL" "$(div "$PEAK_KB" 1024)" "$(awk -v a="${R_SCAN[$c]}" -v b="$BEST_WALL" 'BEGIN { print a / b * 100 }')" \
            "${R_SCAN[$c]}" "$(div "$(awk -v a="$c1" -v b="$c0" 'BEGIN { print a - b }')" "$RUNS")")")
        if same_findings "$OUT/kt-scan-$c.json" "$out"; then
            CHECKS+=("ok: the S3 scan ($label) found the same findings as the local scan")
        else
            CHECKS+=("FAIL: the S3 scan's findings ($out) differ from the local scan's ($OUT/kt-scan-$c.json)"); STATUS=1
        fi
    else
        STATUS=1; CHECKS+=("FAIL: keytrail scan s3:// ($label) failed")
    fi
    if [ "$CURL_OK" -eq 1 ]; then
        cdir="$OUT/kt-curl"; codes="$OUT/kt-curl-codes.txt"
        curl_configs "$port" "$c" "$cdir"
        say "the server alone: curl GETs every object, 16 clients, $label (best of $RUNS)"
        c0="$(proc_cpu "$S3_PID")"
        if measure "$RUNS" "ls $(q "$cdir")/part.* | xargs -P 16 -I{} curl -s $(printf '%q ' "${S3_AUTH[@]}") -K {} -w '%{http_code}\n' > $(q "$codes")"; then
            c1="$(proc_cpu "$S3_PID")"
            ok="$(grep -c '^200$' "$codes" || true)"
            S3_LINES+=("$(printf 'S3 server alone (%s): curl GET of every object %.2f s, %s of %s answered 200, server CPU %.2f s per pass' \
                "$label" "$BEST_WALL" "$ok" "${M_FILES[$c]}" "$(div "$(awk -v a="$c1" -v b="$c0" 'BEGIN { print a - b }')" "$RUNS")")")
        fi
    fi
    kill "$S3_PID" 2>/dev/null || true
    wait "$S3_PID" 2>/dev/null || true
    S3_PID=""
}

if [ "$S3" -eq 1 ] && [ -n "$SPARSE_C" ] && [ -n "${R_SCAN[$SPARSE_C]:-}" ] && [ -z "${R_SCAN_KILL[$SPARSE_C]:-}" ]; then
    PORT="${KEYTRAIL_BENCH_S3_PORT:-19000}"
    s3_round "lean server" "$PORT" --lean
    s3_round "s3s-fs" "$((PORT + 1))"
elif [ "$S3" -eq 1 ]; then
    note "the S3 scans need the sparse corpus and its local scan: skipped"
fi

# --- LookupEvents (sparse corpus) ------------------------------------------------------------
LOOKUP_LINE=""
if [ "$LOOKUP" -eq 1 ] && [ -n "$SPARSE_C" ]; then
    if [ -z "$LOOKUP_BENCH" ]; then
        LOOKUP_LINE="NOTE: the LookupEvents benchmark was not run (no lookup bench binary under $BUILT/deps)"
    else
        say "LookupEvents benchmark (benches/lookup.rs), report in $OUT/kt-lookup.txt"
        if (cd "$REPO" && KEYTRAIL_BIN="$BIN" KEYTRAIL_BENCH_DIR="${C_DIR[$SPARSE_C]}" "$LOOKUP_BENCH" --bench) \
            | tee "$OUT/kt-lookup.txt"; then
            LOOKUP_LINE="LookupEvents: $(grep -i 'calls per 1,000' "$OUT/kt-lookup.txt" | head -n 1 | sed 's/^ *//')"
        else
            LOOKUP_LINE="FAIL: the LookupEvents benchmark failed (see $OUT/kt-lookup.txt)"; STATUS=1
        fi
    fi
fi

# --- perf --------------------------------------------------------------------------------------
PERF_LINES=""
if [ -n "$PERF" ]; then
    pdata="$OUT/kt-perf-$PERF.data"
    say "perf record -g: keytrail scan on $PERF -> $pdata"
    if perf record -g -F 999 -o "$pdata" -- "$BIN" scan "${C_DIR[$PERF]}/AWSLogs" --quiet --format json \
            --output "$OUT/kt-scan-perf-$PERF.json" 2> "$OUT/kt-perf-record.log"; then
        PERF_LINES="$(perf report -i "$pdata" --stdio --no-children -g none --sort dso,sym --percent-limit 1 2>/dev/null \
            | grep -v '^#' | grep -v '^[[:space:]]*$' | sed 's/[[:space:]]*$//' | head -n 30)"
    else
        PERF_LINES="perf record failed: $(tail -n 3 "$OUT/kt-perf-record.log")"; STATUS=1
    fi
fi

# --- report ------------------------------------------------------------------------------------
cell() {  # cell WALL KB KILLED: "12.34 s / 567 MB", or the kill
    if [ -n "${3:-}" ]; then printf 'KILLED >%.0f MB at %.0f s' "$(div "$3" 1024)" "$1"
    elif [ -n "${1:-}" ]; then printf '%.2f s / %.0f MB' "$1" "$(div "$2" 1024)"
    else printf -- '-'; fi
}
ratio() {  # ratio A B: A / B with 2 decimals, or - (missing, or B rounds to 0 s)
    local d=""
    if [ -n "${1:-}" ] && [ -n "${2:-}" ]; then d="$(div "$1" "$2")"; fi
    if [ -n "$d" ] && [ "$d" != nan ]; then printf '%.2fx' "$d"; else printf -- '-'; fi
}
verdict() { if [ "$1" = 1 ]; then printf 'PASS'; elif [ "$1" = 0 ]; then printf 'FAIL'; else printf 'n/a'; fi; }
report() {
    local commit dirty
    commit="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')"
    dirty="$(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null | head -n 1)"
    echo "keytrail benchmark, $(date -u +%Y-%m-%dT%H:%MZ)${LABEL:+: $LABEL}"
    echo "binary: $("$BIN" --version 2>&1 | head -n 1), sha256 $(sha256sum "$BIN" | cut -c1-12); script at $commit${dirty:+ (modified tree)}"
    echo "rules run by scan: $("$BIN" rules list 2>/dev/null | grep -c 'built-in:' || true) built-in (keytrail rules list)"
    echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $((MEM_KB / 1024 / 1024)) GB RAM; $THREADS threads for every tool; RSS cap $RSS_CAP_MB MB"
    local lc loads=""
    for lc in "${CORPUS_NAMES[@]}"; do loads="$loads; $lc ${L_LOAD[$lc]:-?}"; done
    echo "load averages (1, 5, 15 min; the machine may be shared: a high load slows every column): at start $LOADAVG$loads; at the end $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    printf '%-11s %11s %10s | %-17s | %-21s | %-21s | %-21s | %10s %10s %12s\n' \
        corpus events relevant "inflate floor" "keytrail scan" "keytrail events" "chDB" "scan/floor" "chDB/scan" "scan MB/1M ev"
    local c
    for c in "${CORPUS_NAMES[@]}"; do
        local per_m="-"
        [ -n "${R_SCAN_KB[$c]:-}" ] && [ -z "${R_SCAN_KILL[$c]:-}" ] && per_m="$(printf '%.0f' "$(div "$(div "${R_SCAN_KB[$c]}" 1024)" "$(div "${M_EVENTS[$c]:-0}" 1000000)")")"
        printf '%-11s %11s %10s | %-17s | %-21s | %-21s | %-21s | %10s %10s %12s\n' "$c" "${M_EVENTS[$c]:-?}" "${M_REL[$c]:-?}" \
            "$(cell "${R_FLOOR[$c]:-}" "${R_FLOOR_KB[$c]:-}")" \
            "$(cell "${R_SCAN[$c]:-}" "${R_SCAN_KB[$c]:-}" "${R_SCAN_KILL[$c]:-}")" \
            "$(cell "${R_EVT[$c]:-}" "${R_EVT_KB[$c]:-}" "${R_EVT_KILL[$c]:-}")" \
            "$(cell "${R_CH[$c]:-}" "${R_CH_KB[$c]:-}" "${R_CH_KILL[$c]:-}")" \
            "$([ -z "${R_SCAN_KILL[$c]:-}" ] && ratio "${R_SCAN[$c]:-}" "${R_FLOOR[$c]:-}" || echo -)" \
            "$([ -z "${R_SCAN_KILL[$c]:-}" ] && [ -z "${R_CH_KILL[$c]:-}" ] && ratio "${R_CH[$c]:-}" "${R_SCAN[$c]:-}" || echo -)" \
            "$per_m"
    done
    echo
    local l
    for l in "${S3_LINES[@]}"; do echo "$l"; done
    [ -z "$LOOKUP_LINE" ] || echo "$LOOKUP_LINE"
    echo
    echo "targets (issue 11):"
    local v dense3="dense-3m" x
    if [ -n "$SPARSE_C" ] && [ "$SPARSE" -eq 1000000 ] && [ -n "${R_SCAN[$SPARSE_C]:-}" ] && [ -n "${R_FLOOR[$SPARSE_C]:-}" ] && [ -z "${R_SCAN_KILL[$SPARSE_C]:-}" ]; then
        v=0; lt "$(div "${R_SCAN[$SPARSE_C]}" "${R_FLOOR[$SPARSE_C]}")" 1.500001 && v=1
        echo "  $(verdict $v)  sparse 1M: scan <= 1.5x the $THREADS-thread inflate floor: $(ratio "${R_SCAN[$SPARSE_C]}" "${R_FLOOR[$SPARSE_C]}")"
    else echo "  n/a   sparse 1M: scan <= 1.5x the inflate floor (not measured in this run)"; fi
    if [ -n "${R_SCAN_KB[$dense3]:-}" ]; then
        v=0; [ -z "${R_SCAN_KILL[$dense3]:-}" ] && [ "${R_SCAN_KB[$dense3]}" -lt 1048576 ] && v=1
        echo "  $(verdict $v)  dense 3M: scan peak RSS < 1 GB with every rule: $(cell "${R_SCAN[$dense3]}" "${R_SCAN_KB[$dense3]}" "${R_SCAN_KILL[$dense3]:-}")"
    else echo "  n/a   dense 3M: scan peak RSS < 1 GB (not measured in this run)"; fi
    for x in "$SPARSE_C" "$dense3"; do
        [ -n "$x" ] || continue
        if [ -n "${R_CH[$x]:-}" ] && [ -n "${R_SCAN[$x]:-}" ] && [ -z "${R_CH_KILL[$x]:-}" ]; then
            v=0; [ -z "${R_SCAN_KILL[$x]:-}" ] && ! lt "$(div "${R_CH[$x]}" "${R_SCAN[$x]}")" 3 && v=1
            echo "  $(verdict $v)  $x: scan at least 3x faster than chDB's selection: chDB/scan = $([ -z "${R_SCAN_KILL[$x]:-}" ] && ratio "${R_CH[$x]}" "${R_SCAN[$x]}" || echo 'scan killed')"
        else echo "  n/a   $x: scan at least 3x faster than chDB (not measured in this run)"; fi
    done
    if [ -n "${R_S3[lean server]:-}" ]; then
        x="$(awk -v a="${R_SCAN[$SPARSE_C]}" -v b="${R_S3[lean server]}" 'BEGIN { print a / b }')"
        v=0; lt "$x" 0.7 || v=1
        echo "  $(verdict $v)  S3 path >= 70% of local throughput (lean server): $(awk -v x="$x" 'BEGIN { printf "%.0f%%", x * 100 }')$([ -n "${R_S3[s3s-fs]:-}" ] && awk -v a="${R_SCAN[$SPARSE_C]}" -v b="${R_S3[s3s-fs]}" 'BEGIN { printf "; s3s-fs server: %.0f%%", a / b * 100 }')"
    else echo "  n/a   S3 path >= 70% of local throughput (not measured in this run)"; fi
    local dense_list=() lo="" hi=""
    for c in "${CORPUS_NAMES[@]}"; do
        [ "${C_MIX[$c]}" = "bearer" ] || continue
        dense_list+=("$c: $(cell "${R_SCAN[$c]:-}" "${R_SCAN_KB[$c]:-}" "${R_SCAN_KILL[$c]:-}")")
        if [ -n "${R_SCAN_KB[$c]:-}" ] && [ -z "${R_SCAN_KILL[$c]:-}" ]; then
            [ -n "$lo" ] || lo="${R_SCAN_KB[$c]}"; hi="${R_SCAN_KB[$c]}"
        else hi="killed"; fi
    done
    if [ "${#dense_list[@]}" -ge 2 ]; then
        if [ "$hi" = "killed" ] || [ -z "$lo" ]; then v=0; x="a scan was killed"
        else x="$(div "$hi" "$lo")"; v=0; lt "$x" 1.5 && v=1; x="largest/smallest = $(printf '%.2f' "$x")x"; fi
        echo "  $(verdict $v)  memory flat as the dense corpus grows (largest/smallest peak RSS < 1.5x): $x"
        printf '        %s\n' "${dense_list[@]}"
    fi
    echo
    echo "checks:"
    for l in "${CHECKS[@]}"; do echo "  $l"; done
    if [ -n "$PERF_LINES" ]; then
        echo
        echo "perf report --stdio --no-children (keytrail scan on $PERF, top lines):"
        echo "$PERF_LINES"
    fi
}
say "results${LABEL:+: $LABEL} (also in $RESULTS)"
report | tee "$RESULTS"
exit "$STATUS"
