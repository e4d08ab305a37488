#!/bin/sh
# RUSTC_WRAPPER for fuzz/run.sh: adds libFuzzer's coverage instrumentation (SanitizerCoverage,
# the flags `cargo fuzz build -s none` uses) to the code under test only, keytrail and the fuzz
# targets. The dependencies are compiled as `cargo test` compiles them, so a fuzz build in the
# same target directory reuses them instead of building polars and the AWS SDK again. All flags
# are stable rustc flags.
rustc="$1"
shift
case " $* " in
*" --crate-name keytrail "* | *"fuzz_targets/"*)
    exec "$rustc" "$@" \
        -Cpasses=sancov-module \
        -Cllvm-args=-sanitizer-coverage-level=4 \
        -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
        -Cllvm-args=-sanitizer-coverage-pc-table \
        -Cllvm-args=-sanitizer-coverage-trace-compares
    ;;
esac
exec "$rustc" "$@"
