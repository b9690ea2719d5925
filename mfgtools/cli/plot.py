"""``mfgtools plot``: the figure of a saved result or sweep."""

from __future__ import annotations

import os

from mfgtools.cli.common import check_output, claim_outputs
from mfgtools.errors import MFGError, as_int


# ----- plot -------------------------------------------------------------------------
def run_plot(args) -> int:
    from mfgtools.plotting import check_figure_path, is_sweep, plot_result, write_sweep_plot
    from mfgtools.results import load_result

    out = args.out if args.out is not None else os.path.splitext(args.path)[0] + ".png"
    if os.path.abspath(out) == os.path.abspath(args.path):
        raise MFGError(f"the figure would overwrite the result {args.path!r}; give --out")
    times = None
    if args.times is not None:
        times = [as_int(part, "--times", 0) for part in args.times.split(",") if part.strip()]
    check_output(out, "--out", args.overwrite, [(f"result file {args.path!r}", args.path)])
    check_figure_path(out)
    claim_outputs(args, out)
    dataset = load_result(args.path)
    if is_sweep(dataset):  # a file of `mfgtools sweep`: the final metric against the swept parameter
        if times is not None:
            raise MFGError(
                f"--times does not apply to {args.path!r}: it is a sweep (its figure shows the final "
                "metric against the swept parameter); leave --times out"
            )
        write_sweep_plot(dataset, out)
        print(f"wrote {out}")
        return 0
    if times is not None and dataset.attrs["mode"] == "stationary":
        raise MFGError(
            f"--times does not apply to {args.path!r}: it is a stationary result (one stationary "
            "population, no time steps); leave --times out"
        )
    plot_result(dataset, out, times=times, scale=args.scale)
    print(f"wrote {out}")
    return 0


__all__ = ["run_plot"]
