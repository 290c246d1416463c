#!/bin/bash
# Submits a sharded weightbench run to Slurm: an array job with one task per
# shard, and a merge job that runs after all of them (afterany) and writes
# merged.json and merged.html into the results folder.
#
#   deploy/slurm/submit.sh SHARDS [RESULTS_DIR]
#
# Variables: WB_SCENARIO (default quick), WB_BENCH_ARGS (more bench flags),
# WB_GPUS (GPUs per shard, default 1; 0 submits with --gres=none, for
# clusters or tests without GPUs), WB_SBATCH_ARGS (more sbatch flags for both
# jobs, e.g. "--partition=a100 --account=ml"), WB_CACHE, WB_DENO.
# Prints the job ids, then the results folder on the last line.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
count="${1:-}"
if ! [[ "$count" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: deploy/slurm/submit.sh SHARDS [RESULTS_DIR] (SHARDS a positive integer, got \"$count\")" >&2
  exit 2
fi
export WB_REPO="${WB_REPO:-$(cd "$here/../.." && pwd)}"
results="${2:-$WB_REPO/profiles/runs/fleet-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$results/logs"
export WB_RESULTS
WB_RESULTS="$(cd "$results" && pwd)"
export WB_SHARDS="$count"

gpus="${WB_GPUS:-1}"
if [ "$gpus" = "0" ]; then gres="--gres=none"; else gres="--gres=gpu:$gpus"; fi
read -r -a extra <<< "${WB_SBATCH_ARGS:-}"

array="$(sbatch --parsable --array="1-$count" "$gres" "${extra[@]}" \
  --output="$WB_RESULTS/logs/shard-%A_%a.out" "$here/weightbench-shards.sbatch")"
array="${array%%;*}"
merge="$(sbatch --parsable --dependency="afterany:$array" "${extra[@]}" \
  --output="$WB_RESULTS/logs/merge-%j.out" "$here/weightbench-merge.sbatch")"
merge="${merge%%;*}"
echo "shards: job $array (array 1-$count, $gres)"
echo "merge: job $merge, after every shard"
echo "$WB_RESULTS"
