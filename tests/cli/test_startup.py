"""A fast start: ``import scaling`` and ``scaling --help`` load no heavy library; the lazy API still resolves.

Each check runs a fresh interpreter (the test session has imported everything already) and
looks at ``sys.modules``; nothing is timed (benchmarks/bench_startup.py measures the times).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import scaling

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("matplotlib", "scipy.stats", "statsmodels", "seaborn")
COMMANDS = ("fit", "ingest", "extrapolate", "backtest-sizes", "plan", "forecast", "backtest-forecast", "compare", "report")


def _python(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, timeout=300)


def _loaded_after(code: str) -> set[str]:
    """The modules among HEAVY (and pandas) that a fresh interpreter holds after running ``code``."""
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(m for m in sys.modules)))"
    proc = _python("-c", probe)
    assert proc.returncode == 0, proc.stderr
    modules = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {m for m in (*HEAVY, "pandas") if m in modules}


def test_import_scaling_loads_no_heavy_library():
    assert _loaded_after("import scaling") == set()


def test_cli_help_loads_no_heavy_library():
    loaded = _loaded_after(
        "from typer.testing import CliRunner\n"
        "from scaling.cli import app\n"
        "res = CliRunner().invoke(app, ['--help'])\n"
        "assert res.exit_code == 0, res.output\n"
        "for cmd in " + repr(COMMANDS) + ":\n"
        "    assert CliRunner().invoke(app, [cmd, '--help']).exit_code == 0, cmd"
    )
    assert not loaded & {"matplotlib", "statsmodels", "scipy.stats", "seaborn"}, loaded


@pytest.mark.parametrize("name", scaling.__all__)
def test_every_public_name_resolves(name):
    assert getattr(scaling, name) is not None
    assert name in dir(scaling)


def test_public_names_are_the_library_objects():
    from scaling.comparison import compare_algorithms
    from scaling.fitting.dataset import fit_dataset
    from scaling.reporting.page import write_report

    assert scaling.fit is fit_dataset
    assert scaling.compare is compare_algorithms
    assert scaling.report is write_report
    assert issubclass(scaling.DataError, Exception)


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        scaling.not_a_name  # noqa: B018


def test_plot_works_with_only_the_analysis_imported():
    """A result imported without scaling.plotting still draws: the first plot() registers the figures."""
    code = (
        "import matplotlib\nmatplotlib.use('Agg')\n"
        "import sys\n"
        "from scaling.data.sources import load\n"
        "from scaling.fitting.dataset import fit_dataset\n"
        "assert 'scaling.plotting' not in sys.modules\n"
        "fits = fit_dataset(load('data/runs.csv', run='task,model,algorithm,seed', perf='val_acc'))\n"
        "ax = fits.fits[0].plot()\n"
        "print(type(ax).__name__, 'scaling.plotting' in sys.modules)"
    )
    proc = _python("-c", code)
    assert proc.returncode == 0, proc.stderr
    kind, registered = proc.stdout.split()[-2:]
    assert kind in ("Axes", "AxesSubplot", "Figure")
    assert registered == "True"


def test_python_m_scaling_lists_the_commands():
    proc = _python("-m", "scaling", "--help")
    assert proc.returncode == 0, proc.stderr
    for cmd in COMMANDS:
        assert cmd in proc.stdout


def test_python_m_scaling_cli_has_the_report_command():
    proc = _python("-m", "scaling.cli", "report", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "HTML report" in proc.stdout
    assert "--per-run" in proc.stdout


def test_the_command_runs_blas_on_one_thread_unless_told_otherwise():
    code = "import os, sys; sys.argv = ['scaling', '--help']\nfrom scaling.cli import main\ntry:\n    main()\nexcept SystemExit:\n    pass\nprint('THREADS', os.environ['OPENBLAS_NUM_THREADS'], os.environ['OMP_NUM_THREADS'])"
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert "THREADS 1 1" in out
    env["OPENBLAS_NUM_THREADS"] = "4"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert "THREADS 4 1" in out
