"""Command line: ``skranode demo`` and ``skranode run`` (also ``python -m skranode``)."""

import argparse

from skranode.mass_window import DEFAULT_SIGNAL_REGION

__all__ = ["main"]


def _common(parser):
    parser.add_argument(
        "--signal-region",
        nargs=2,
        type=float,
        default=DEFAULT_SIGNAL_REGION,
        metavar=("LO", "HI"),
        help="signal region in TeV, LO <= mjj < HI (default %(default)s)",
    )
    parser.add_argument("--n-jobs", type=int, default=None, help="parallel jobs")
    parser.add_argument(
        "--preset",
        choices=("default", "fast"),
        default="default",
        help="training budgets ('fast' for a smoke run)",
    )
    parser.add_argument("--device", default="auto", help="torch device: auto, cpu or cuda")
    parser.add_argument("--output", default="skranode-output", help="folder for the results")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's choice; 1 is faster on busy cores)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only errors")


def _parser():
    parser = argparse.ArgumentParser(
        prog="skranode", description="Resonant anomaly detection with skranode."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the analysis on built-in LHCO-like data")
    demo.add_argument(
        "--n-signal",
        type=int,
        default=800,
        help="signal events planted over the whole mass range (default 800)",
    )
    _common(demo)
    run = sub.add_parser(
        "run",
        help="run the analysis on an event file",
        description=(
            "Run the analysis on the LHCO R&D features file (.h5, or 'fetch' to download "
            "it) or on six-column .npy arrays (mjj, 4 features, label). A labelled file "
            "with sidebands gets --n-signal of its signal events re-injected into half of "
            "its background, the rest serving as truth; signal-region-only arrays need "
            "--reference, a true background sample."
        ),
    )
    run.add_argument("--data", required=True, metavar="PATH", help="event file, or 'fetch'")
    run.add_argument(
        "--reference", metavar="PATH", help="true background sample in the signal region"
    )
    run.add_argument("--test", nargs="+", metavar="PATH", help="labelled test files")
    run.add_argument(
        "--n-signal",
        type=int,
        default=1000,
        help="signal events re-injected into a labelled file with sidebands (default 1000)",
    )
    run.add_argument("--as-is", action="store_true", help="use the data file as it is")
    _common(run)
    return parser


def main(argv=None):
    """Entry point of the ``skranode`` console script."""
    args = _parser().parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            raise SystemExit(f"skranode: --threads must be >= 1; got {args.threads}.")
        import torch

        torch.set_num_threads(args.threads)
    import matplotlib

    matplotlib.use("Agg")  # this program only writes figures to files
    common = dict(
        n_jobs=args.n_jobs,
        preset=args.preset,
        signal_region=tuple(args.signal_region),
        seed=args.seed,
        device=args.device,
        output=args.output,
        verbose=not args.quiet,
    )
    if args.command == "demo":
        from skranode.demo import run_demo

        run_demo(n_signal=args.n_signal, **common)
    else:
        from skranode.file_analysis import run_on_file

        run_on_file(
            args.data,
            reference=args.reference,
            test=args.test,
            n_signal=args.n_signal,
            as_is=args.as_is,
            **common,
        )
    return 0
