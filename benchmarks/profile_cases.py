"""Where the time of one restoration goes: ``python -m benchmarks.profile_cases --cases sr128,sr256``.

Runs a benchmark case (benchmarks.speed's cases, random weights) once to warm up, then once under
torch.profiler, and prints the operators with the most device time (CUDA) or CPU time. Not a test.
Run from the repository root, on a CUDA machine (seconds a case) or a CPU one (``--device cpu``;
sr128 takes about a minute on 2 cores).
"""
from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from benchmarks.speed import CASES, _input, make_model
from resshift.pipelines.options import RestoreOptions
from resshift.pipelines.restore import run_model


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile_cases", description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", default="sr128")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precision", default="auto")
    p.add_argument("--rows", type=int, default=20)
    args = p.parse_args()
    cuda = args.device.startswith("cuda")
    for name in args.cases.split(","):
        case = CASES[name]
        model = make_model(case.model, args.device)
        y = _input(case, args.device)
        options = RestoreOptions(seed=0, tile=case.tile, precision=args.precision)
        run_model(model, y, options)
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        with profile(activities=activities) as prof:
            run_model(model, y, options)
            if cuda:
                torch.cuda.synchronize()
        key = "self_cuda_time_total" if cuda else "self_cpu_time_total"
        print(f"== {name} ({args.device}, {args.precision})")
        print(prof.key_averages().table(sort_by=key, row_limit=args.rows, max_name_column_width=60))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
