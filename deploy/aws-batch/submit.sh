#!/bin/sh
# Submits one sharded keytrail run to AWS Batch: an array job of SHARDS map children
# (`keytrail events --shard K/SHARDS --format parquet`, K = AWS_BATCH_JOB_ARRAY_INDEX) and a
# reduce job that depends on it (`keytrail scan shard-*.parquet`). The job definitions are
# registered once with:
#   aws batch register-job-definition --cli-input-json file://deploy/aws-batch/job-definition-map.json
#   aws batch register-job-definition --cli-input-json file://deploy/aws-batch/job-definition-reduce.json
#
#   deploy/aws-batch/submit.sh QUEUE SHARDS SINCE UNTIL     e.g.
#   deploy/aws-batch/submit.sh keytrail-fargate 16 2026-11-01T00:00:00Z 2026-12-01T00:00:00Z
#
# SINCE and UNTIL must be absolute times: array children start minutes apart, and a relative
# window (30d) would give each shard a different one. The shards and findings.json land on the
# EFS file system under /keytrail-shards/RUN_ID/.
set -eu
[ $# -eq 4 ] || { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
QUEUE="$1"; SHARDS="$2"; SINCE="$3"; UNTIL="$4"
RUN_ID="run-$(date -u +%Y%m%dT%H%M%SZ)"
MAP_ID="$(aws batch submit-job --job-name "keytrail-map-$RUN_ID" --job-queue "$QUEUE" \
    --job-definition keytrail-shard-map --array-properties "size=$SHARDS" \
    --container-overrides "environment=[{name=RUN_ID,value=$RUN_ID},{name=SHARDS,value=$SHARDS},{name=SINCE,value=$SINCE},{name=UNTIL,value=$UNTIL}]" \
    --query jobId --output text)"
REDUCE_ID="$(aws batch submit-job --job-name "keytrail-reduce-$RUN_ID" --job-queue "$QUEUE" \
    --job-definition keytrail-shard-reduce --depends-on "jobId=$MAP_ID" \
    --container-overrides "environment=[{name=RUN_ID,value=$RUN_ID},{name=SHARDS,value=$SHARDS}]" \
    --query jobId --output text)"
echo "run $RUN_ID: map array job $MAP_ID ($SHARDS shards), reduce job $REDUCE_ID"
