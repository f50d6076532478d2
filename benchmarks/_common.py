"""What the benchmark scripts share: the machine line every table starts with, seed ranges."""

import os
import platform
import subprocess


def environment():
    """CPU, cores, the CPU flags that decide bf16 speed, torch version and threads."""
    import torch

    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    flags = " ".join(
                        x for x in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if x in have
                    )
                    break
    except OSError:
        pass
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, CPU flags "
        f"[{flags}], torch {torch.__version__}, torch threads {torch.get_num_threads()}"
    )


def code_version():
    """The commit of the skranode being measured (``+dirty`` when its tree has edits), or None."""
    import skranode

    where = os.path.dirname(os.path.dirname(os.path.abspath(skranode.__file__)))
    try:
        commit = subprocess.run(
            ["git", "-C", where, "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", where, "status", "--porcelain", "--untracked-files=no", "skranode"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+dirty" if dirty else "")


def parse_seeds(text):
    """``"0-9"`` -> 0..9 (inclusive); ``"0,3,7"`` -> [0, 3, 7]."""
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(v) for v in text.split(",")]
