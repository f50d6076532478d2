"""Command line: ``skranode demo`` (also ``python -m skranode demo``)."""

import argparse

__all__ = ["main"]


def _parser():
    parser = argparse.ArgumentParser(
        prog="skranode", description="Resonant anomaly detection with skranode."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the analysis on built-in LHCO-like data")
    demo.add_argument(
        "--signal-region",
        nargs=2,
        type=float,
        default=(3.3, 3.7),
        metavar=("LO", "HI"),
        help="signal region in TeV (default 3.3 3.7)",
    )
    demo.add_argument(
        "--n-signal",
        type=int,
        default=800,
        help="signal events planted over the whole mass range (default 800)",
    )
    demo.add_argument("--n-jobs", type=int, default=None, help="parallel jobs")
    demo.add_argument(
        "--preset",
        choices=("default", "fast"),
        default="default",
        help="sizes and training budgets ('fast' for a smoke run)",
    )
    demo.add_argument("--device", default="auto", help="torch device: auto, cpu or cuda")
    demo.add_argument("--output", default="skranode-output", help="folder for the results")
    demo.add_argument("--seed", type=int, default=0, help="random seed")
    demo.add_argument("--quiet", action="store_true", help="print only errors")
    return parser


def main(argv=None):
    """Entry point of the ``skranode`` console script."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from skranode.demo import run_demo

        run_demo(
            n_signal=args.n_signal,
            n_jobs=args.n_jobs,
            preset=args.preset,
            signal_region=tuple(args.signal_region),
            seed=args.seed,
            device=args.device,
            output=args.output,
            verbose=not args.quiet,
        )
    return 0
