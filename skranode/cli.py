"""Command line: ``skranode demo``, ``run`` and ``scan`` (also ``python -m skranode``)."""

import argparse
import os
import sys

import matplotlib
import torch
from threadpoolctl import threadpool_limits

import skranode
from skranode import demo, file_analysis, scan_job
from skranode.mass_window import DEFAULT_SIGNAL_REGION
from skranode.methods import DEFAULT_METHODS
from skranode.utils._torch import THREADS_VARIABLE

__all__ = ["main"]

#: Set to 1 to see the full traceback of an error instead of its one line.
TRACEBACK_VARIABLE = "SKRANODE_TRACEBACK"


def _integer(minimum, *, zero=True):
    """An argparse type: an integer >= ``minimum`` (0 excluded unless ``zero``)."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum or (value == 0 and not zero):
            what = f">= {minimum}" + ("" if zero else ", not 0")
            raise argparse.ArgumentTypeError(f"must be {what}; got {value}")
        return value

    return parse


def _n_jobs(text):
    """``--n-jobs``: a positive count, or negative as in joblib (-1: every core); never 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value == 0:
        raise argparse.ArgumentTypeError("must not be 0: a number of jobs, or -1 for every core")
    return value


def _branch(text):
    """``--branch COLUMN=BRANCH``: one pair of the column-to-branch mapping of a ROOT tree."""
    column, sep, branch = text.partition("=")
    if not sep or not column or not branch:
        raise argparse.ArgumentTypeError(
            f"expected COLUMN=BRANCH (for example mjj=Mjj); got {text!r}"
        )
    return column.strip(), branch.strip()


def _root_options(parser):
    group = parser.add_argument_group("ROOT files (--data events.root; needs uproot)")
    group.add_argument("--tree", help="name of the TTree (default: the file's only tree)")
    group.add_argument(
        "--branch",
        action="append",
        type=_branch,
        default=[],
        metavar="COLUMN=BRANCH",
        help="the branch of a column (mjj, mjmin, delta_mj, tau21_min, tau21_max, label) "
        "named otherwise; repeat for each",
    )
    group.add_argument(
        "--units", choices=("TeV", "GeV"), default="TeV", help="units of the masses in the file"
    )


def _root_kwargs(args):
    return dict(tree=args.tree, branches=dict(args.branch) or None, units=args.units)


def _common(parser, *, signal_region=True):
    if signal_region:
        parser.add_argument(
            "--signal-region",
            nargs=2,
            type=float,
            default=DEFAULT_SIGNAL_REGION,
            metavar=("LO", "HI"),
            help="signal region in TeV, LO <= mjj < HI (default %(default)s)",
        )
        parser.add_argument(
            "--curtains",
            action="store_true",
            help="also run CURTAINs (sideband events morphed into the signal region, then "
            "CATHODE): one more row in the table, about a minute more on 2 cores",
        )
    parser.add_argument(
        "--n-jobs", type=_n_jobs, default=None, help="parallel jobs (-1: every core)"
    )
    parser.add_argument(
        "--preset",
        choices=("default", "fast"),
        default="default",
        help=(
            "training budgets: 'default', the calibrated recipe (2 to 5 minutes for "
            "the demo on 2 cores), or 'fast', small models for a smoke run (about a minute; "
            "its numbers are not calibrated)"
        ),
    )
    parser.add_argument("--device", default="auto", help="torch device: auto, cpu or cuda")
    parser.add_argument(
        "--output",
        default="skranode-output",
        help=(
            "folder for results.json and the plots (a finished run replaces the last "
            "run's files there; other files are left alone)"
        ),
    )
    parser.add_argument("--seed", type=_integer(0), default=0, help="random seed")
    parser.add_argument(
        "--threads",
        type=_integer(1),
        default=None,
        help="threads per process for torch and scikit-learn (default 1: parallel stages "
        "run as processes; more threads only pay on an idle machine)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only errors")


def _parser():
    parser = argparse.ArgumentParser(
        prog="skranode", description="Resonant anomaly detection with skranode."
    )
    parser.add_argument("--version", action="version", version=f"skranode {skranode.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo_parser = sub.add_parser(
        "demo",
        help="run the analysis on built-in LHCO-like data",
        description=(
            "Run the whole analysis on built-in LHCO-like data (a QCD-like background "
            "with sidebands and a planted W'-like resonance): the background model in "
            "the sidebands, R-ANODE with the signal fraction, its interval and "
            "significance, the bump hunt, the truth-free validation and the classifier "
            "methods; prints a table and writes results.json and plots to --output."
        ),
    )
    demo_parser.add_argument(
        "--n-signal",
        type=_integer(0),
        default=800,
        help="signal events planted over the whole mass range (default 800)",
    )
    _common(demo_parser)
    run = sub.add_parser(
        "run",
        help="run the analysis on an event file",
        description=(
            "Run the analysis on the LHCO R&D features file (.h5, or 'fetch' to download "
            "it), on six-column .npy arrays (mjj, 4 features, label) or on a ROOT TTree "
            "(--tree, --branch, --units). A labelled file "
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
        type=_integer(0),
        default=1000,
        help="signal events re-injected into a labelled file with sidebands (default 1000)",
    )
    run.add_argument("--as-is", action="store_true", help="use the data file as it is")
    _root_options(run)
    _common(run)
    _scan_parser(sub)
    return parser


def _scan_parser(sub):
    """The options of ``skranode scan``."""
    scan = sub.add_parser(
        "scan",
        help="slide the signal region over the spectrum (built-in data or --data PATH)",
        description=(
            "Sliding-window search: every window gets its own sideband background, k-fold "
            "R-ANODE scores, the signal fraction with its interval and upper limit, and a "
            "bump hunt after a cut on the score; the most significant window is corrected "
            "for the look-elsewhere effect. Without --data it runs on built-in LHCO-like "
            "data with a resonance planted at --signal-mass, which the scan is not told. "
            "Labels in the data are used only to report the truth."
        ),
    )
    scan.add_argument(
        "--data", metavar="PATH", help="LHCO R&D .h5 file, six-column .npy or ROOT file"
    )
    _root_options(scan)
    scan.add_argument(
        "--signal-mass", type=float, default=4.1, help="built-in data: planted mass (TeV)"
    )
    scan.add_argument(
        "--n-signal", type=_integer(0), default=1200, help="built-in data: planted signal events"
    )
    scan.add_argument(
        "--n-background",
        type=_integer(1),
        default=1_000_000,
        help="built-in data: background events",
    )
    scan.add_argument(
        "--mass-range",
        nargs=2,
        type=float,
        default=(3.0, 5.5),
        metavar=("LO", "HI"),
        help="range the signal regions cover, TeV (default %(default)s)",
    )
    scan.add_argument("--width", type=float, default=0.4, help="signal-region width (TeV)")
    scan.add_argument("--step", type=float, default=0.2, help="window step (TeV)")
    scan.add_argument("--sideband-width", type=float, default=0.4, help="sideband width (TeV)")
    scan.add_argument(
        "--relative",
        action="store_true",
        help="width, step and sideband width are fractions of the window's lower edge",
    )
    scan.add_argument(
        "--efficiency", type=float, default=0.02, help="sideband efficiency of the score cut"
    )
    scan.add_argument(
        "--curtains",
        action="store_true",
        help=(
            "also run CATHODE against CURTAINs' morphed sideband events in every window "
            "(its local significance per window; about doubles the time)"
        ),
    )
    scan.add_argument(
        "--no-validation",
        dest="validate",
        action="store_false",
        help="skip the validation windows of the most significant window",
    )
    _common(scan, signal_region=False)
    scan.set_defaults(output="skranode-scan")


def main(argv=None):
    """Entry point of the ``skranode`` console script.

    Bad arguments end with argparse's usage line; an error of the run (bad
    data, a file that cannot be read, an invalid setting) with one line on
    stderr naming it, and exit status 2 in both cases (130 when interrupted).
    ``SKRANODE_TRACEBACK=1`` shows the full traceback instead.

    Parameters
    ----------
    argv : list of str or None, default=None
        The arguments; None reads ``sys.argv``.

    Returns
    -------
    status : int
        0 on success, 2 on an error, 130 when interrupted.
    """
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("skranode: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, ImportError) as exc:
        if os.environ.get(TRACEBACK_VARIABLE, "") not in ("", "0"):
            raise
        message = " ".join(str(exc).split())  # one line, whatever the library wrote
        print(
            f"skranode: error: {message} ({type(exc).__name__}; {TRACEBACK_VARIABLE}=1 shows "
            "the traceback)",
            file=sys.stderr,
        )
        return 2


def thread_note(threads, n_jobs):
    """A line when ``threads`` per process (times the jobs) exceed the free cores, else None.

    More threads than free cores make every thread wait for the others:
    ``--threads 2`` on a loaded 2-core machine gave no result in 290 s where
    one thread took 33 s. The free cores are the cores this process may use
    less the one-minute load average.
    """
    if threads <= 1:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    jobs = cores if n_jobs is not None and n_jobs < 0 else max(n_jobs or 1, 1)
    free = max(cores - load, 0.0)
    if threads * jobs <= free + 0.5:
        return None
    return (
        f"--threads {threads} with {jobs} job(s) asks for {threads * jobs} cores where about "
        f"{free:.1f} of {cores} are free (load average {load:.1f}): threads that outnumber "
        "the free cores wait for each other and every training slows down many times over. "
        "--threads 1 (the default) is the safe choice on a shared machine."
    )


def _run(args):
    # One thread per process unless --threads says otherwise, for torch's trainings
    # and the OpenMP of scikit-learn's classifiers: the libraries' defaults oversubscribe
    # a loaded machine (measured in the user guide, "Threads"); parallel stages use
    # processes, one thread each. Restored afterwards, for a caller of main().
    threads = 1 if args.threads is None else args.threads
    note = thread_note(threads, getattr(args, "n_jobs", None))
    if note is not None:
        print(f"skranode: note: {note}", file=sys.stderr, flush=True)
    saved_threads, saved_variable = torch.get_num_threads(), os.environ.get(THREADS_VARIABLE)
    torch.set_num_threads(threads)
    os.environ[THREADS_VARIABLE] = str(threads)  # workers inherit it
    try:
        with threadpool_limits(limits=threads):
            return _run_command(args)
    finally:
        torch.set_num_threads(saved_threads)
        if saved_variable is None:
            os.environ.pop(THREADS_VARIABLE, None)
        else:
            os.environ[THREADS_VARIABLE] = saved_variable


def _run_command(args):
    matplotlib.use("Agg")  # this program only writes figures to files
    if args.command == "scan":
        return _scan(args)
    common = dict(
        n_jobs=args.n_jobs,
        preset=args.preset,
        signal_region=tuple(args.signal_region),
        seed=args.seed,
        device=args.device,
        output=args.output,
        verbose=not args.quiet,
    )
    methods = list(DEFAULT_METHODS)
    if args.curtains:
        methods.insert(methods.index("CATHODE") + 1, "CURTAINs")
    common["methods"] = tuple(methods)
    if args.command == "demo":
        demo.run_demo(n_signal=args.n_signal, **common)
    else:
        file_analysis.run_on_file(
            args.data,
            reference=args.reference,
            test=args.test,
            n_signal=args.n_signal,
            as_is=args.as_is,
            root_options=_root_kwargs(args),
            **common,
        )
    return 0


def _scan(args):
    if args.data is None:
        data = scan_job.make_scan_data(
            n_background=args.n_background,
            n_signal=args.n_signal,
            signal_mass=args.signal_mass,
            seed=args.seed,
        )
        notes = [
            f"built-in LHCO-like data: {args.n_background} background events, {args.n_signal} "
            f"signal events at {args.signal_mass:g} TeV (the scan is not told the mass)"
        ]
        truth = args.signal_mass if args.n_signal else None
    else:
        data = file_analysis.load_events(args.data, **_root_kwargs(args))
        notes = [f"events from {args.data} as they are (labels only report the truth)"]
        truth = None
    scan_job.run_scan(
        data, mass_range=tuple(args.mass_range), width=args.width, step=args.step,
        sideband_width=args.sideband_width, relative=args.relative, efficiency=args.efficiency,
        validate=args.validate, preset=args.preset, methods=("CURTAINs",) if args.curtains else (),
        n_jobs=args.n_jobs, device=args.device, output=args.output, seed=args.seed,
        verbose=not args.quiet, notes=notes, truth_mass=truth,
    )
    return 0
