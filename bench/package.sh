#!/usr/bin/env bash
# Builds the five Lambda artifacts as `sam build` does (cargo-lambda, arm64, release) and records the
# build time and each artifact's unzipped and zipped size (Lambda: 250 MB unzipped, 50 MB zipped for
# a direct upload). Not part of .ci/run: a cold arm64 release build of the workspace takes longer
# than CI's budget on 2 cores. Prints a markdown table for BENCHMARKS.md.
#
#   bench/package.sh            # sam build (needs the SAM CLI: .ci/run puts it in ~/.cache/pinpipe/tools/sam)
#   USE_SAM=0 bench/package.sh  # cargo lambda build directly, the same flags
#   ARM64_TARGET_DIR=DIR bench/package.sh  # build there (default ~/.cache/pinpipe/target-arm64)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="${WORK:-/tmp/pinpipe-bench/package}"
SAM="${SAM:-$HOME/.cache/pinpipe/tools/sam/bin/sam}"
mkdir -p "$WORK"
# a target directory of its own: sharing the x86 one, each build would wait for the other's lock
export CARGO_TARGET_DIR="${ARM64_TARGET_DIR:-$HOME/.cache/pinpipe/target-arm64}"
rustup target add aarch64-unknown-linux-gnu >/dev/null
# librdkafka is built by its own ./configure && make, which knows nothing of cargo-lambda's cross
# compiler: hand it zig's (the one cargo-lambda uses) for aarch64, keep the host's for build
# scripts, and let lld accept librdkafka's version script (its shared library is built and unused).
for tool in cc c++; do
  printf '#!/bin/sh\nexec python3 -m ziglang %s -target aarch64-linux-gnu.2.17 "$@"\n' "$tool" >"$WORK/zig-$tool"
  chmod +x "$WORK/zig-$tool"
done
export CC="$WORK/zig-cc" CXX="$WORK/zig-c++" LDFLAGS="-Wl,--undefined-version"
export HOST_CC=gcc HOST_CXX=g++ CC_x86_64_unknown_linux_gnu=gcc CXX_x86_64_unknown_linux_gnu=g++
start=$(date +%s)
if [ "${USE_SAM:-1}" = 1 ]; then
  SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-eu-west-1}" "$SAM" build --template template.yaml \
    --build-dir "$WORK/sam" >"$WORK/build.log" 2>&1
  artifact() { echo "$WORK/sam/$1/bootstrap"; }
else
  for bin in ingest-api msk-consumer kinesis-consumer daily-analytics emulate-posting; do
    cargo lambda build --release --arm64 --bin "$bin" --lambda-dir "$WORK/lambda" >>"$WORK/build.log" 2>&1
  done
  artifact() {
    case $1 in
      IngestApiFunction) echo "$WORK/lambda/ingest-api/bootstrap" ;;
      MskConsumerFunction) echo "$WORK/lambda/msk-consumer/bootstrap" ;;
      KinesisConsumerFunction) echo "$WORK/lambda/kinesis-consumer/bootstrap" ;;
      DailyAnalyticsFunction) echo "$WORK/lambda/daily-analytics/bootstrap" ;;
      EmulatePostingFunction) echo "$WORK/lambda/emulate-posting/bootstrap" ;;
    esac
  }
fi
took=$(( $(date +%s) - start ))
echo
echo "arm64 release build of the five functions: ${took} s ($(git rev-parse --short HEAD), $(nproc) cores)"
echo
echo "| function | unzipped | zipped | under 250 MB / 50 MB |"
echo "|---|---|---|---|"
for fn in IngestApiFunction MskConsumerFunction KinesisConsumerFunction DailyAnalyticsFunction EmulatePostingFunction; do
  bin=$(artifact "$fn")
  file "$bin" | grep -q aarch64 || { echo "$bin is not an arm64 binary" >&2; exit 1; }
  rm -f "$WORK/$fn.zip" && (cd "$(dirname "$bin")" && zip -q -9 "$WORK/$fn.zip" bootstrap)
  unzipped=$(stat -c %s "$bin"); zipped=$(stat -c %s "$WORK/$fn.zip")
  ok=$([ "$unzipped" -lt 262144000 ] && [ "$zipped" -lt 52428800 ] && echo yes || echo NO)
  printf '| %s | %.1f MB | %.1f MB | %s |\n' "$fn" "$(echo "$unzipped/1000000" | bc -l)" "$(echo "$zipped/1000000" | bc -l)" "$ok"
done
