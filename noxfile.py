"""Test, lint and benchmark sessions. `nox` runs the default set (what CI runs).

Each test session installs the package from pyproject.toml with a different set of
extras and tells the tests which handlers it expects (DICOMDECODE_EXPECT_HANDLERS), so a
test that needs a library this session deliberately lacks is deselected, while a library
that is missing by accident fails loudly instead of skipping.
"""

from __future__ import annotations

import os

import nox

nox.options.sessions = [
    "lint", "typecheck", "tests", "tests_minimal", "tests_pylibjpeg", "tests_gdcm", "tests_ml",
    "licences", "tests_dask", "fuzz_ci",
    "atheris",
]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"
# The CPU build of torch lies on disk on these machines; any other version is a CUDA download.
TORCH = "torch==2.13.0"


# optional libraries that are no decoder (import names) the main session installs: the
# interop ones and zarr (an `all` extra the handler-only sessions lack); the others expect
# none, so their tests are deselected there and FAIL in `tests` if one does not import
INTEROP = ("SimpleITK", "vtk", "dicom_numpy", "zarr")


def _pytest(session: nox.Session, expect: str, *args: str, libraries: str = "",
            every_core: bool = False) -> None:
    """pytest with the handler/library expectations set; ``every_core``: spread the tests
    over one worker process per core (pytest-xdist), for the sessions that run the whole
    suite (the torch and Dask sessions start their own workers and stay in one process)."""
    env = {"DICOMDECODE_EXPECT_HANDLERS": expect, "DICOMDECODE_EXPECT_LIBRARIES": libraries}
    spread = ["-n", "auto"] if every_core else []
    session.run("pytest", "-p", "no:cacheprovider", "-q", "-ra", *spread, *args,
                *session.posargs, env=env)


# Every handler, the GPL libjpeg included: it is pydicom's only 12-bit JPEG decoder, so the
# independent pydicom references need it, and it is a handler the parity tests compare with.
ALL_HANDLERS = "native,imagecodecs,pylibjpeg,libjpeg,gdcm,charls"


# --- one build of the compiled core per checkout ----------------------------------------
# Every session installs the package editable, so the compiled core (setup.py) lands in
# the source tree, where every session's interpreter imports it. Building it again for
# each of a dozen sessions cost a minute or more each; once it is built and newer than its
# sources, a session installs with DICOMDECODE_NO_COMPILE=1 and uses that build.

def _core_modules() -> list[str]:
    """The sources setup.py compiles (its COMPILED_MODULES and PLAIN_MODULES)."""
    import re

    with open("setup.py", encoding="utf-8") as fh:
        return sorted(set(re.findall(r'"(dicomdecode/[\w/]+\.py)"', fh.read())))


def _core_is_current() -> bool:
    """Whether every compiled module has an in-place build newer than its source and
    than setup.py (the build flags live there)."""
    import glob
    import sysconfig

    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    setup_time = os.path.getmtime("setup.py")
    for source in _core_modules():
        built = source[:-3] + suffix
        if not glob.glob(built):
            return False
        if os.path.getmtime(built) < max(os.path.getmtime(source), setup_time):
            return False
    return True


def _install(session: nox.Session, *args: str) -> None:
    """``session.install(*args)``, building the compiled core only when it is not current."""
    env = {"DICOMDECODE_NO_COMPILE": "1"} if _core_is_current() else None
    session.install(*args, env=env)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Everything with every optional decoder installed (the main test session), and the
    interop references: SimpleITK, VTK, dicom-numpy (to_sitk, to_vtk, compat, README)."""
    _install(session, "-e", ".[all,libjpeg-gpl,test,sitk,vtk]", "dicom-numpy>=0.6,<0.7")
    _pytest(session, ALL_HANDLERS, "-m", "not torch and not dask", libraries=",".join(INTEROP),
            every_core=True)


@nox.session(python=PYTHON)
def tests_minimal(session: nox.Session) -> None:
    """Core dependencies only: uncompressed decodes, compressed raises MissingHandlerError."""
    _install(session, "-e", ".[test]")
    _pytest(session, "native", "-m", "not torch and not dask", every_core=True)


@nox.session(python=PYTHON)
def tests_pylibjpeg(session: nox.Session) -> None:
    """Core + the pylibjpeg plugins only (the permissive ones and the GPL libjpeg)."""
    _install(session, "-e", ".[pylibjpeg,libjpeg-gpl,test]")
    _pytest(session, "native,pylibjpeg,libjpeg", "-m", "not torch and not dask", every_core=True)


@nox.session(python=PYTHON)
def licences(session: nox.Session) -> None:
    """The default `[all]` install alone: no GPL distribution in it, and every syntax the
    handlers know still decodes with it (12-bit and retired JPEG by permissive code)."""
    _install(session, "-e", ".[all]", "pytest>=8", "pytest-timeout>=2.3")
    _pytest(session, "native,imagecodecs,pylibjpeg,gdcm,charls", "tests/test_licences.py")


@nox.session(python=PYTHON)
def tests_gdcm(session: nox.Session) -> None:
    """Core + python-gdcm only."""
    _install(session, "-e", ".[gdcm,test]")
    _pytest(session, "native,gdcm", "-m", "not torch and not dask", every_core=True)


@nox.session(python=PYTHON)
def tests_ml(session: nox.Session) -> None:
    """Data-loader tests under real PyTorch workers (CPU build)."""
    session.install(TORCH)
    _install(session, "-e", ".[all,libjpeg-gpl,test,monai]")
    _pytest(session, ALL_HANDLERS, "-m", "torch")


@nox.session(python=PYTHON)
def tests_dask(session: nox.Session) -> None:
    """convert on real Dask clusters on this machine (LocalCluster; a scheduler and two
    workers over TCP, one killed mid-run) against the local engine's run. About a minute."""
    _install(session, "-e", ".[all,dask,test]")
    _pytest(session, "native,pylibjpeg,gdcm,charls", "-m", "dask")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff, and the layering of DESIGN.md (import-linter contracts in pyproject.toml)."""
    _install(session, "ruff", "import-linter>=2.0", "-e", ".")
    session.run("ruff", "check", "dicomdecode", "tests", "bench", "test_data", "noxfile.py")
    session.run("lint-imports")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    _install(session, "mypy", "-e", ".[all]")
    session.run("mypy", "dicomdecode")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Load/convert benchmarks against the pydicom loop, SimpleITK and dcm2niix."""
    _install(session, "-e", ".[all]", "SimpleITK", "dcm2niix", "psutil")
    args = session.posargs or ["--slices", "300", "--repeats", "5"]
    session.run("python", "bench/bench_load.py", *args, env={"OMP_NUM_THREADS": "1"})


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The main job on data the repo has: convert test_data/series to NIfTI."""
    _install(session, "-e", ".[all]")
    out = os.path.join(session.create_tmp(), "demo_out")
    session.run("dicomdecode", "convert", "test_data/series", out, "--format", "nifti",
                "--force", "--report", os.path.join(out, "report.json"))


@nox.session(python=PYTHON)
def fuzz_ci(session: nox.Session) -> None:
    """The CI budget of the fuzz harness: 2,000 mutants (test_data and, when present, the
    corpus) through decode_file, load and scan, and every fifth through every entry point
    ('agree', fuzz/differential.py); any crash, hang, bomb, untyped error, all-zero
    result, silent empty load or disagreement fails the run. A few minutes on 2 cores."""
    _install(session, "-e", ".[all,test]")
    session.run("python", "-m", "fuzz.run", "--count", "2000", "--seed", "2026",
                "--max-seconds", "900", *session.posargs)


@nox.session(python=PYTHON)
def atheris(session: nox.Session) -> None:
    """Coverage-guided fuzzing (atheris) of the reading layer, the guard and the canonical
    step (fuzz/atheris_target.py) for 2 minutes from a seed corpus of test_data, then the
    grown corpus replayed under coverage.py (read/ and decode/validate.py reported).
    A finding fails the session and is left in the session's tmp dir as crash-*: minimise
    it (`python -m fuzz.atheris_target -minimize_crash=1 -runs=10000 crash-...`) and keep
    it in fuzz/regressions/, which tests/test_fuzz_regressions.py replays.
    `nox -s atheris -- 600` fuzzes for 600 s."""
    _install(session, "-e", ".[all,fuzz]")
    seconds = session.posargs[0] if session.posargs else "120"
    tmp = session.create_tmp()
    corpus = os.path.join(tmp, "corpus")
    os.makedirs(corpus, exist_ok=True)
    import glob
    import shutil

    for path in glob.glob("test_data/**/*.dcm", recursive=True):
        shutil.copy(path, os.path.join(corpus, path.replace("/", "_")))
    session.run("python", "-m", "fuzz.atheris_target", corpus, f"-max_total_time={seconds}",
                "-rss_limit_mb=2048", "-timeout=20", f"-artifact_prefix={tmp}/",
                "-print_final_stats=1")
    session.run("coverage", "run", "--branch", "--data-file", f"{tmp}/.coverage",
                "--source=dicomdecode.read,dicomdecode.decode",
                "-m", "fuzz.atheris_target", "--replay", corpus)
    session.run("coverage", "report", "--data-file", f"{tmp}/.coverage",
                "--include=*/read/*,*/decode/validate.py,*/decode/canonical.py")


@nox.session(python=PYTHON)
def fuzz(session: nox.Session) -> None:
    """Mutation fuzzing of decode_file/load/scan (fuzz/); not in the default set.

    It takes minutes and exits 1 while any crash, hang, bomb or untyped error is left, so
    it is a tool to run on purpose: `nox -s fuzz -- --count 500 --seed 3 --json out.json`.
    """
    _install(session, "-e", ".[all,test]")
    args = session.posargs or ["--count", "2000", "--seed", "1"]
    session.run("python", "-m", "fuzz.run", *args)


# --- the compiled core (dicomdecode/read/walkcore.py, built by setup.py) ---------------
# `pip install -e .` compiles the core in place (dicomdecode/read/{walkcore,header}.*.so). The two
# sessions below each need another build of it, so they remove that build product first;
# any later `pip install -e .` (every other session) builds the normal one again.

def _remove_inplace_core() -> None:
    import glob

    for module in ("walkcore", "header"):
        for built in glob.glob(f"dicomdecode/read/{module}.*.so") + glob.glob(
                f"dicomdecode/read/{module}.c"):
            os.remove(built)
    # setup.py's PLAIN_MODULES (the rest of the per-file path, compiled as it is)
    for source in glob.glob("dicomdecode/**/*.py", recursive=True):
        stem = source[:-3]
        for built in glob.glob(f"{stem}.*.so") + glob.glob(f"{stem}.c"):
            os.remove(built)


@nox.session(python=PYTHON)
def tests_interpreted(session: nox.Session) -> None:
    """`pip install -e .` with the C compiler hidden (CC/LDSHARED are /bin/false): the
    install must still succeed, warn, and give the pure-Python core, which must pass the
    reading and decoding tests (the same source as the compiled core, interpreted)."""
    _remove_inplace_core()
    session.install("-e", ".[test]", env={"CC": "/bin/false", "CXX": "/bin/false",
                                          "LDSHARED": "/bin/false"})
    session.run("pytest", "-p", "no:cacheprovider", "-q", "-ra", "-m", "not torch and not dask",
                "-W", "ignore:dicomdecode's compiled core:RuntimeWarning",
                "tests/test_walkcore.py", "tests/test_header.py", "tests/test_scan.py",
                "tests/test_fragments.py", "tests/test_one_road.py",
                "tests/test_decode_pydicom_files.py", "tests/test_batch_hostile.py",
                "tests/test_rle_native.py", "tests/test_widen.py",
                "tests/test_hostile_values.py", *session.posargs,
                env={"DICOMDECODE_EXPECT_HANDLERS": "native", "DICOMDECODE_EXPECT_LIBRARIES": "",
                     "DICOMDECODE_EXPECT_INTERPRETED": "1", "DICOMDECODE_REQUIRE_COMPILED": "0"})
    _remove_inplace_core()


@nox.session(python=PYTHON)
def fuzz_asan(session: nox.Session) -> None:
    """The compiled core built with AddressSanitizer, and the fuzz harness's mutants of
    the seed corpus read through it (libasan preloaded into the interpreter): any read
    outside a buffer aborts the worker, which the harness counts as a crash and fails.
    About 3 minutes on 2 cores once its virtualenv exists."""
    import subprocess

    libasan = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True,
                             text=True, check=True).stdout.strip()
    _remove_inplace_core()
    flags = "-fsanitize=address -fno-omit-frame-pointer -O1 -g"
    # try/finally: an ASan build left in the tree would break every later session
    try:
        session.install("-e", ".[all,test]", env={"CFLAGS": flags, "LDFLAGS": "-fsanitize=address"})
        # FUZZ_RLIMIT_AS=0: ASan reserves terabytes of address space for its shadow memory, so
        # the harness's address-space cap is off here (bombs still show as peak RSS growth)
        env = {"LD_PRELOAD": libasan, "DICOMDECODE_REQUIRE_COMPILED": "1", "FUZZ_RLIMIT_AS": "0",
               "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1:allocator_may_return_null=1"}
        session.run("python", "-c", "from dicomdecode.read import walkcore; "
                    "assert walkcore.COMPILED, walkcore.__file__", env=env)
        # the core's own tests (deep nesting, hostile lengths, 300 mutants walked compiled and
        # interpreted; the RLE decoder's hostile segments and garbled frames), then the harness's mutants through `scan`, the road that walks every
        # header with the core. Not `decode_file`/`load`: a codec library that throws a C++
        # exception (CharLS, OpenJPH in the imagecodecs wheel, not built with ASan) trips
        # ASan's __cxa_throw interceptor, a false alarm that is not about our code
        session.run("pytest", "-p", "no:cacheprovider", "-q", "tests/test_walkcore.py",
                    "tests/test_rle_native.py", "tests/test_widen.py", env=env)
        session.run("python", "-m", "fuzz.run", "--count", "1500", "--every", "1", "--seed",
                    "2019", "--api", "scan", "--max-seconds", "600", *session.posargs, env=env)
    finally:
        _remove_inplace_core()


# about 3 minutes on 2 cores (a fresh venv, install, 130 tests interpreted)
nox.options.sessions += ["tests_interpreted"]
