#!/usr/bin/env bash
# The headline benchmarks on an accelerator, in one prepared run of at most 8 minutes, written as a markdown
# table (issue 19; docs/benchmarks.md, "On a GPU").
#
#   benchmarks/device_suite.sh [OUTDIR]        # default OUTDIR: $OUT (the device tool's folder) or results/device
#   SMOKE=1 benchmarks/device_suite.sh         # tiny sizes: checks the script itself on any machine (CPU too)
#
# Steps, each under its own time limit (seconds; the limits add up to 480 s), each writing OUTDIR/NAME.log:
#   devices      the JAX backend and devices
#   big_grid_1e6 one OMD iteration + exploitability, empty 1000 x 1000 grid (10^6 cells), T = 100
#   big_grid_1e7 the same on 3163 x 3163 (10^7 cells), T = 30
#   off_mmd      Off-MMD iterations on four rooms, expert data (the paper's network)
#   swarm        swarm agent-steps at N = 10^5 and 10^6 (Kuramoto)
#   sweep        a 256-run sweep (32 learning rates x 8 seeds of OMD on four rooms), one program
#   small_games  the fixed cost of solve on games from 3 to 10^4 states (bench_latency.py part 1)
# The peers (OpenSpiel, MFGLib) are not on the device machine: their side of bench_peers.py runs on CPU
# anyway, so the suite times only mfgtools there. OUTDIR/device_suite.md gathers the table and each step's
# closing lines. Runs from the repository root with the machine's python3 (JAX with CUDA), the checkout on
# PYTHONPATH; nothing is installed.
set -u
cd "$(dirname "$0")/.."
out=${1:-${OUT:-results/device}}
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
smoke=${SMOKE:-0}
table="$out/device_suite.md"
details="$out/.details.md"
: > "$details"

if [ "$smoke" = 1 ]; then
    grid6=(--size 30 --horizon 10 --iterations 1); grid7=(--size 40 --horizon 5 --iterations 1)
    off=(--iterations 1 -p steps=5); swarm=(--games kuramoto --agents 1000,2000 --steps 2 --repeats 1 --small-radius 0)
    sweep=(--seeds 2 --rates 0.01,0.1 --iterations 5 --map empty:6); small=(--skip-peers --repeats 1)
else
    grid6=(--size 1000 --horizon 100 --iterations 3); grid7=(--size 3163 --horizon 30 --iterations 2)
    off=(--iterations 3)
    swarm=(--games kuramoto --agents 100000,1000000 --steps 10 --big 2000000 --repeats 3 --small-radius 0)
    rates=$("$py" -c "print(','.join(f'{x:.4g}' for x in __import__('numpy').geomspace(1e-3, 1.0, 32)))")
    sweep=(--seeds 8 --rates "$rates" --iterations 100); small=(--skip-peers --repeats 5)
fi

{
    echo "# mfgtools device suite"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1)"
    echo
    echo "| step | command | status | wall time | result |"
    echo "| --- | --- | --- | ---: | --- |"
} > "$table"

step() {  # step NAME LIMIT SUMMARY-PATTERN ARGS...: run one benchmark, add its row and its closing lines
    local name=$1 limit=$2 pattern=$3
    shift 3
    local began status rc summary
    began=$(date +%s%N)
    timeout "$limit" "$py" "$@" > "$out/$name.log" 2>&1
    rc=$?
    case $rc in 0) status=ok ;; 124) status="timed out (${limit} s)" ;; *) status="failed ($rc)" ;; esac
    summary=$(grep -E "$pattern" "$out/$name.log" | tail -n 2 | tr '\n' ' ' | sed 's/|/\\|/g; s/ *$//')
    local tenths=$((($(date +%s%N) - began) / 100000000))
    printf '| %s | `%s` | %s | %d.%d s | %s |\n' "$name" "$*" "$status" $((tenths / 10)) $((tenths % 10)) \
        "${summary:--}" >> "$table"
    { echo; echo "## $name"; echo; echo '```'; tail -n 25 "$out/$name.log"; echo '```'; } >> "$details"
    echo "$name: $status" >&2
}

step devices 30 "backend|devices" -c "import jax; print('backend', jax.default_backend()); print('devices', jax.devices())"
step big_grid_1e6 90 "per iteration|median|s/it" benchmarks/bench_big_grid.py "${grid6[@]}"
step big_grid_1e7 90 "per iteration|median|s/it" benchmarks/bench_big_grid.py "${grid7[@]}"
step off_mmd 60 "whole iteration" benchmarks/bench_off_mmd.py "${off[@]}"
step swarm 70 "^\| *kuramoto" benchmarks/bench_swarm.py "${swarm[@]}"
step sweep 60 "second call \(compiled\)|runs per second" benchmarks/bench_sweep.py "${sweep[@]}"
step small_games 80 "crowd_modelling S=10.*100 iterations|four rooms.*100 iterations" benchmarks/bench_latency.py "${small[@]}"

cat "$details" >> "$table"
rm -f "$details"
echo "wrote $table" >&2
