#!/usr/bin/env bash
# keytrail performance benchmark. See benches/README.md.
#
#   benches/run.sh [--events N] [--seed N] [--runs N] [--jq-runs N] [--no-build] [--no-lookup]
#
# 1. cargo build --profile profiling --bins --examples (release with line tables), cargo bench --bench lookup --no-run
#    (CARGO_TARGET_DIR, default $HOME/.cache/keytrail/target); the binaries timed are copied
#    to $KEYTRAIL_BENCH_TMP/keytrail-bench-bin first (the target dir may be shared)
# 2. generate the corpus (benches/gen_corpus.py; cached through its MANIFEST.json) into
#    ${KEYTRAIL_BENCH_DIR:-$HOME/.cache/keytrail/bench-corpus}
# 3. time, with /usr/bin/time -f '%e %M' and a warm page cache:
#      keytrail scan   <corpus> --format json   --output /tmp/kt-findings.json   (best of --runs)
#      keytrail events <corpus> --format ndjson --output /tmp/kt-events.ndjson   (best of --runs)
#      find | xargs zcat | jq -c -f benches/bedrock_relevant.jq                (best of --jq-runs)
#      find | xargs zcat > /dev/null                                            (best of --runs)
#      keytrail scan s3://bench-corpus/AWSLogs/ against a local S3-compatible server
#      (examples/s3_serve.rs: s3s + s3s-fs over the corpus folder), then the same
#      with s3_serve --lean-get, and curl GETting every object from each (best of --runs)
# 4. print a table and check that keytrail events, jq and the MANIFEST agree on the
#    number of Bedrock-relevant events (exit 1 if not).
# 5. unless --no-lookup: the LookupEvents benchmark (benches/lookup.rs): the corpus's
#    management events served by the tests' LookupEvents stand-in, read with
#    keytrail events lookup:REGIONS; calls per 1,000 relevant events, the busiest
#    one-second window per region (exit 1 if above 2) and a rows check against the files.
#
# Environment: CARGO_TARGET_DIR, KEYTRAIL_BENCH_DIR, KEYTRAIL_BIN (use this binary, skip
# the build), KEYTRAIL_DATASETS (real CloudTrail data for the generator), KEYTRAIL_BENCH_TMP
# (where outputs go, default /tmp).
set -euo pipefail

EVENTS=1000000
SEED=42
RUNS=3
JQ_RUNS=1
BUILD=1
LOOKUP=1

usage() { sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --events) EVENTS="$2"; shift 2 ;;
        --events=*) EVENTS="${1#*=}"; shift ;;
        --seed) SEED="$2"; shift 2 ;;
        --seed=*) SEED="${1#*=}"; shift ;;
        --runs) RUNS="$2"; shift 2 ;;
        --runs=*) RUNS="${1#*=}"; shift ;;
        --jq-runs) JQ_RUNS="$2"; shift 2 ;;
        --jq-runs=*) JQ_RUNS="${1#*=}"; shift ;;
        --no-build) BUILD=0; shift ;;
        --no-lookup) LOOKUP=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
done
for v in EVENTS SEED RUNS JQ_RUNS; do
    case "${!v}" in ''|*[!0-9]*) echo "run.sh: $v must be a non-negative integer" >&2; exit 2 ;; esac
done
[ "$RUNS" -ge 1 ] && [ "$JQ_RUNS" -ge 1 ] && [ "$EVENTS" -ge 1 ] \
    || { echo "run.sh: --events, --runs and --jq-runs must be >= 1" >&2; exit 2; }

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$REPO/benches"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/keytrail/target}"
BIN="${KEYTRAIL_BIN:-$CARGO_TARGET_DIR/profiling/keytrail}"
CORPUS_DIR="${KEYTRAIL_BENCH_DIR:-$HOME/.cache/keytrail/bench-corpus}"
CORPUS="$CORPUS_DIR/AWSLogs"      # keytrail and find are pointed here, not at MANIFEST.json
OUT="${KEYTRAIL_BENCH_TMP:-/tmp}"
FINDINGS="$OUT/kt-findings.json"
EVENTS_OUT="$OUT/kt-events.ndjson"
JQ_OUT="$OUT/kt-jq.ndjson"
FILTER="$BENCH/bedrock_relevant.jq"
STATUS=0

say() { printf '\n== %s\n' "$*"; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "nan"; else printf "%.6f\n", a / b }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

# --- tools ---------------------------------------------------------------------------
apt_install() {
    local pkg="$1"
    echo "run.sh: installing the Debian package '$pkg'"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
            echo "run.sh: '$pkg' is missing and I am not root: apt-get install -y $pkg" >&2; exit 1
        fi
    fi
    $sudo apt-get install -y "$pkg" >/dev/null 2>&1 \
        || { $sudo apt-get update >/dev/null && $sudo apt-get install -y "$pkg" >/dev/null; }
}
[ -x /usr/bin/time ] || apt_install time
command -v jq >/dev/null 2>&1 || apt_install jq
command -v python3 >/dev/null 2>&1 || { echo "run.sh: python3 (3.11+) is required" >&2; exit 1; }

# --- build ---------------------------------------------------------------------------
KT_SKIP=""
LOOKUP_BENCH=""
if [ -n "${KEYTRAIL_BIN:-}" ]; then
    say "using KEYTRAIL_BIN=$BIN (no build)"
elif [ "$BUILD" -eq 1 ]; then
    # One build for the binary and the S3 server example, so features unify once.
    say "cargo build --profile profiling --bins --examples  (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
    if ! (cd "$REPO" && cargo build --profile profiling --bins --examples); then
        KT_SKIP="cargo build --profile profiling failed"
        STATUS=1
    fi
    if [ "$LOOKUP" -eq 1 ] && [ -z "$KT_SKIP" ]; then
        say "cargo bench --bench lookup --no-run"
        LOOKUP_BENCH="$(cd "$REPO" && cargo bench --bench lookup --no-run --message-format=json \
            | jq -r 'select(.reason == "compiler-artifact" and .target.name == "lookup"
                            and .executable != null) | .executable' | tail -n 1)" || LOOKUP_BENCH=""
    fi
fi
S3_SERVE="$CARGO_TARGET_DIR/profiling/examples/s3_serve"
S3_SKIP=""
[ -n "$S3_SKIP" ] || [ -x "$S3_SERVE" ] || S3_SKIP="no S3 server binary at $S3_SERVE"
if [ -z "$KT_SKIP" ] && [ ! -x "$BIN" ]; then
    KT_SKIP="no keytrail binary at $BIN"
fi
if [ "$LOOKUP" -eq 1 ] && [ -z "$LOOKUP_BENCH" ]; then
    # --no-build or KEYTRAIL_BIN: the newest lookup bench binary already built.
    LOOKUP_BENCH="$(find "$CARGO_TARGET_DIR/release/deps" -maxdepth 1 -type f -name 'lookup-*' \
        ! -name '*.d' -perm -u+x -printf '%T@ %p\n' 2>/dev/null | sort -n | tail -n 1 | cut -d' ' -f2-)"
fi
# Time private copies: another build in a shared CARGO_TARGET_DIR could replace the originals
# mid-run.
BIN_COPY="$OUT/keytrail-bench-bin"
mkdir -p "$BIN_COPY"
if [ -z "$KT_SKIP" ]; then
    cp "$BIN" "$BIN_COPY/keytrail" && BIN="$BIN_COPY/keytrail"
fi
if [ -z "$S3_SKIP" ]; then
    cp "$S3_SERVE" "$BIN_COPY/s3_serve" && S3_SERVE="$BIN_COPY/s3_serve"
fi
if [ -n "$LOOKUP_BENCH" ]; then
    cp "$LOOKUP_BENCH" "$BIN_COPY/lookup-bench" && LOOKUP_BENCH="$BIN_COPY/lookup-bench"
fi
if [ -n "$KT_SKIP" ]; then
    echo "run.sh: SKIPPING keytrail timing: $KT_SKIP. Only the generator and the baselines run." >&2
fi

# --- corpus --------------------------------------------------------------------------
say "corpus: $EVENTS events, seed $SEED -> $CORPUS_DIR"
python3 "$BENCH/gen_corpus.py" --out "$CORPUS_DIR" --events "$EVENTS" --seed "$SEED"
MANIFEST="$CORPUS_DIR/MANIFEST.json"
read -r M_REL M_FILES M_RAW M_GZ M_GEN < <(jq -r \
    '"\(.relevant_events) \(.files) \(.total_uncompressed_bytes) \(.total_gz_bytes) \(.generation_seconds)"' \
    "$MANIFEST")
printf 'corpus: %s events, %s Bedrock-relevant, %s files, %.1f MB JSON, %.1f MB gzipped (generated in %s s)\n' \
    "$EVENTS" "$M_REL" "$M_FILES" "$(div "$M_RAW" 1000000)" "$(div "$M_GZ" 1000000)" "$M_GEN"

# --- timing helpers ----------------------------------------------------------------------
# measure RUNS CMD: runs CMD (a bash -o pipefail command line) RUNS times under
# /usr/bin/time; sets BEST_WALL (min wall seconds) and PEAK_KB (max peak RSS over the runs;
# for a pipeline, the largest single process).
measure() {
    local runs="$1" cmd="$2" i tf line wall kb
    BEST_WALL=""; PEAK_KB=0
    tf="$(mktemp)"
    for ((i = 1; i <= runs; i++)); do
        if ! /usr/bin/time -f '%e %M' -o "$tf" bash -o pipefail -c "$cmd"; then
            echo "run.sh: command failed (run $i): $cmd" >&2
            cat "$tf" >&2
            rm -f "$tf"
            return 1
        fi
        line="$(tail -n 1 "$tf")"
        wall="${line% *}"; kb="${line#* }"
        printf '   run %d: %6.2f s  %7.1f MB\n' "$i" "$wall" "$(div "$kb" 1024)"
        if [ -z "$BEST_WALL" ] || lt "$wall" "$BEST_WALL"; then BEST_WALL="$wall"; fi
        if [ "$kb" -gt "$PEAK_KB" ]; then PEAK_KB="$kb"; fi
    done
    rm -f "$tf"
}

q() { printf '%q' "$1"; }
FIND="find $(q "$CORPUS") -name '*.json.gz' -print0"

# warm the page cache so that every command reads the corpus from memory
say "warming the page cache"
bash -o pipefail -c "$FIND | xargs -0 cat > /dev/null"

ROWS=()   # "name;wall;kb;selected"

if [ -z "$KT_SKIP" ]; then
    say "keytrail --version: $("$BIN" --version 2>&1 | head -n 1 || true)"
    say "keytrail scan (best of $RUNS)"
    if measure "$RUNS" "$(q "$BIN") scan $(q "$CORPUS") --format json --output $(q "$FINDINGS")"; then
        ROWS+=("keytrail scan --format json;$BEST_WALL;$PEAK_KB;-")
    else
        STATUS=1; KT_SKIP="keytrail scan failed"
    fi
fi
KT_EVENTS=""
if [ -z "$KT_SKIP" ]; then
    say "keytrail events (best of $RUNS)"
    if measure "$RUNS" "$(q "$BIN") events $(q "$CORPUS") --format ndjson --output $(q "$EVENTS_OUT")"; then
        KT_EVENTS="$(wc -l < "$EVENTS_OUT" | tr -d ' ')"
        ROWS+=("keytrail events --format ndjson;$BEST_WALL;$PEAK_KB;$KT_EVENTS")
    else
        STATUS=1; KT_SKIP="keytrail events failed"
    fi
fi

KT_SCAN_WALL=""
for row in "${ROWS[@]}"; do
    case "$row" in "keytrail scan --format json;"*) IFS=';' read -r _ KT_SCAN_WALL _ _ <<<"$row" ;; esac
done
S3_LINES=()   # the S3 findings for the checks section
S3_PID=""
trap '[ -z "$S3_PID" ] || kill "$S3_PID" 2>/dev/null || true' EXIT
S3_AUTH=(--aws-sigv4 "aws:amz:us-east-1:s3" --user "AKIAKEYTRAILBENCH001:keytrail-bench-secret"
         -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
CURL_OK=0
curl --help all 2>/dev/null | grep -q -- --aws-sigv4 && CURL_OK=1

# proc_cpu PID: CPU seconds (user + system) the process has used so far.
proc_cpu() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f\n", ($14 + $15) / t }' "/proc/$1/stat"; }

# curl_configs PORT DIR: one curl config per parallel client in DIR (part.*), naming every
# object of the corpus as a URL on 127.0.0.1:PORT, bodies to /dev/null.
curl_configs() {
    local port="$1" dir="$2" parts=16 i=0
    rm -rf "$dir"; mkdir -p "$dir"
    (cd "$(dirname "$CORPUS_DIR")" && find "$(basename "$CORPUS_DIR")/AWSLogs" -name '*.json.gz' | sort) |
        while IFS= read -r key; do
            printf 'url = "http://127.0.0.1:%s/%s"\noutput = "/dev/null"\n' "$port" "$key" \
                >> "$dir/part.$((i % parts))"
            i=$((i + 1))
        done
}

# s3_round LABEL PORT [SERVER FLAGS]: starts examples/s3_serve over the corpus folder's parent
# (bucket = the corpus folder), times keytrail scan s3://... against it (best of --runs) and,
# with curl, GETs of every object by 16 parallel clients (the server's own cost); notes the
# server's CPU seconds for both in S3_LINES and compares the findings with the local scan's.
s3_round() {
    local label="$1" port="$2"; shift 2
    local slug="${label,,}"
    local out="$OUT/kt-findings-s3-${slug//[^a-z0-9]/-}.json" c0 c1 cdir codes ok
    say "local S3 server ($label) on 127.0.0.1:$port serving $(dirname "$CORPUS_DIR")"
    "$S3_SERVE" "$(dirname "$CORPUS_DIR")" "$port" "$@" 2>/dev/null &
    S3_PID=$!
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    local env="AWS_ACCESS_KEY_ID=AKIAKEYTRAILBENCH001 AWS_SECRET_ACCESS_KEY=keytrail-bench-secret AWS_REGION=us-east-1 AWS_ENDPOINT_URL_S3=http://127.0.0.1:$port"
    local url="s3://$(basename "$CORPUS_DIR")/AWSLogs/"
    say "keytrail scan $url, $label (best of $RUNS)"
    c0="$(proc_cpu "$S3_PID")"
    if measure "$RUNS" "env $env $(q "$BIN") scan $(q "$url") --force-path-style --format json --output $(q "$out")"; then
        c1="$(proc_cpu "$S3_PID")"
        ROWS+=("keytrail scan s3:// ($label);$BEST_WALL;$PEAK_KB;-")
        S3_LINES+=("$(printf 'S3 throughput (%s) = %.0f%% of local-file throughput (local scan %s s / S3 scan %s s); server CPU %.2f s per scan' \
            "$label" "$(awk -v a="$KT_SCAN_WALL" -v b="$BEST_WALL" 'BEGIN { print a / b * 100 }')" \
            "$KT_SCAN_WALL" "$BEST_WALL" "$(div "$(awk -v a="$c1" -v b="$c0" 'BEGIN { print a - b }')" "$RUNS")")")
        if cmp -s <(jq -S '.findings' "$FINDINGS") <(jq -S '.findings' "$out"); then
            S3_LINES+=("ok: the S3 scan ($label) found the same findings as the local scan")
        else
            S3_LINES+=("FAIL: the S3 scan's findings ($out) differ from the local scan's ($FINDINGS)")
            STATUS=1
        fi
    else
        STATUS=1; S3_LINES+=("FAIL: keytrail scan s3:// ($label) failed")
    fi
    if [ "$CURL_OK" -eq 1 ]; then
        cdir="$OUT/kt-curl"; codes="$OUT/kt-curl-codes.txt"
        curl_configs "$port" "$cdir"
        say "the server alone: curl GETs every object, 16 clients, $label (best of $RUNS)"
        c0="$(proc_cpu "$S3_PID")"
        if measure "$RUNS" "ls $(q "$cdir")/part.* | xargs -P 16 -I{} curl -s $(printf '%q ' "${S3_AUTH[@]}") -K {} -w '%{http_code}\n' > $(q "$codes")"; then
            c1="$(proc_cpu "$S3_PID")"
            ok="$(grep -c '^200$' "$codes" || true)"
            ROWS+=("curl GET every object ($label);$BEST_WALL;$PEAK_KB;-")
            S3_LINES+=("$(printf 'the server alone (%s): %s GETs answered 200 (of %s objects), server CPU %.2f s per pass over the corpus' \
                "$label" "$ok" "$M_FILES" "$(div "$(awk -v a="$c1" -v b="$c0" 'BEGIN { print a - b }')" "$RUNS")")")
        fi
    fi
    kill "$S3_PID" 2>/dev/null || true
    wait "$S3_PID" 2>/dev/null || true
    S3_PID=""
}

if [ -z "$KT_SKIP" ] && [ -z "$S3_SKIP" ]; then
    PORT="${KEYTRAIL_BENCH_S3_PORT:-19000}"
    s3_round "s3s-fs" "$PORT"
    s3_round "lean GetObject" "$((PORT + 1))" --lean-get
fi

say "baseline: find | xargs zcat | jq (best of $JQ_RUNS; $(jq --version))"
measure "$JQ_RUNS" "$FIND | xargs -0 zcat | jq -c -f $(q "$FILTER") > $(q "$JQ_OUT")"
JQ_WALL="$BEST_WALL"
JQ_EVENTS="$(wc -l < "$JQ_OUT" | tr -d ' ')"
ROWS+=("find | xargs zcat | jq;$BEST_WALL;$PEAK_KB;$JQ_EVENTS")

say "inflate floor: find | xargs zcat > /dev/null (best of $RUNS)"
measure "$RUNS" "$FIND | xargs -0 zcat > /dev/null"
ROWS+=("find | xargs zcat > /dev/null;$BEST_WALL;$PEAK_KB;-")

# --- report --------------------------------------------------------------------------
say "results: $EVENTS events, $M_FILES files, $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//'))"
printf '%-40s %9s %13s %16s %15s\n' "command" "wall s" "peak RSS MB" "events selected" "speed-up vs jq"
for row in "${ROWS[@]}"; do
    IFS=';' read -r name wall kb sel <<<"$row"
    printf '%-40s %9.2f %13.1f %16s %14.1fx\n' "$name" "$wall" "$(div "$kb" 1024)" "$sel" \
        "$(div "$JQ_WALL" "$wall")"
done
if [ -s "$FINDINGS" ] && [ -z "$KT_SKIP" ]; then
    n_findings="$(jq 'if type == "array" then length
                      elif type == "object" and (.findings | type) == "array" then .findings | length
                      else "?" end' "$FINDINGS" 2>/dev/null || echo '?')"
    echo "keytrail scan wrote $n_findings findings to $FINDINGS"
fi

# --- checks --------------------------------------------------------------------------
echo
for line in "${S3_LINES[@]}"; do
    echo "$line"
done
if [ -n "$S3_SKIP" ]; then
    echo "NOTE: the S3 scan was not timed ($S3_SKIP)" >&2
elif [ "$CURL_OK" -eq 0 ]; then
    echo "NOTE: the S3 server was not timed alone (curl without --aws-sigv4, needs curl 7.75+)" >&2
fi
if [ "$JQ_EVENTS" != "$M_REL" ]; then
    echo "FAIL: the jq baseline selected $JQ_EVENTS events but MANIFEST.json says $M_REL are Bedrock-relevant" >&2
    STATUS=1
else
    echo "ok: jq baseline selected $JQ_EVENTS events = MANIFEST relevant_events"
fi
if [ -n "$KT_EVENTS" ]; then
    if [ "$KT_EVENTS" != "$JQ_EVENTS" ] || [ "$KT_EVENTS" != "$M_REL" ]; then
        echo "FAIL: keytrail events wrote $KT_EVENTS lines to $EVENTS_OUT, jq selected $JQ_EVENTS ($JQ_OUT)," \
             "MANIFEST says $M_REL" >&2
        STATUS=1
    else
        echo "ok: keytrail events wrote $KT_EVENTS lines = jq = MANIFEST"
    fi
else
    echo "NOTE: keytrail was not timed or checked (${KT_SKIP:-unknown reason})" >&2
fi

# --- LookupEvents ----------------------------------------------------------------------
if [ "$LOOKUP" -eq 1 ]; then
    if [ -n "$KT_SKIP" ]; then
        echo "NOTE: the LookupEvents benchmark was not run ($KT_SKIP)" >&2
    elif [ -z "$LOOKUP_BENCH" ]; then
        echo "NOTE: the LookupEvents benchmark was not run (no lookup bench binary under" \
             "$CARGO_TARGET_DIR/release/deps; cargo bench --bench lookup --no-run builds it)" >&2
    else
        say "LookupEvents benchmark (benches/lookup.rs), report also in $OUT/kt-lookup.txt"
        if ! (cd "$REPO" && KEYTRAIL_BIN="$BIN" KEYTRAIL_BENCH_DIR="$CORPUS_DIR" "$LOOKUP_BENCH" --bench) \
            | tee "$OUT/kt-lookup.txt"; then
            echo "FAIL: the LookupEvents benchmark failed (see above)" >&2
            STATUS=1
        fi
    fi
fi
exit "$STATUS"
