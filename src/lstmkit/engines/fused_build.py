"""Build, cache and load the fused engine's C kernels (engines/kernels/*.c) with ctypes.

Why C compiled at first use, and not numba or a torch C++ extension: a C file that
includes no torch header compiles in about a second (a torch extension takes 30-60 s, and
numba's first compile of these loops takes several seconds and adds a 40 MB dependency),
runs with no Python per step, and is loaded in milliseconds from a cache on later runs.
The kernels link OpenMP through the soname libgomp.so.1, which torch has already loaded,
so torch and the kernels share one thread pool (two competing pools slowed the prototype).

Nothing happens at `import lstmkit`: the first call of a fused kernel builds the library
for that cell family and dtype (lstm or gru, f32 or f64) into the cache directory
(`LSTMKIT_CACHE_DIR`, else `$XDG_CACHE_HOME/lstmkit`, else `~/.cache/lstmkit`), named by a
hash of the sources, compiler and CPU, so an edit, another compiler or another machine
sharing the home directory gets its own build. `LSTMKIT_NO_COMPILE=1` turns the fused
engine off (it then reports itself unavailable and "auto" falls back).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import torch

KERNEL_DIR = Path(__file__).with_name("kernels")
SOURCES = {"lstm": "lstm.c", "gru": "gru.c", "lstm_bf16": "lstm_bf16.c", "gru_bf16": "gru_bf16.c"}
DTYPES = {torch.float32: "f32", torch.float64: "f64"}
_FLAG_SETS = (  # tried in order: the fast build, then builds for less capable compilers
    ["-O3", "-march=native", "-fopenmp"],
    ["-O3", "-fopenmp"],
    ["-O3"],
)
# The bfloat16 kernel (engines/bf16_kernel.py) needs AVX-512 BF16: one flag set, no fallback
# (without it there is no such kernel), built only where the CPU has the instruction. Its
# emulated build ("bf16emu", kernels/bf16_ops.h) compiles anywhere, with the usual sets.
_SUFFIX_FLAG_SETS = {
    "bf16": (["-O3", "-march=native", "-mavx512bf16", "-mavx512f", "-mavx512bw", "-fopenmp"],),
}
_DEFINES = {"f64": ["-DLK_DOUBLE"], "bf16emu": ["-DLK_BF16_EMULATE", "-Wno-psabi"]}
# -fno-trapping-math: without it GCC threads the clamp in lk_expm1 into branches holding the
# arithmetic after it, refuses to if-convert ("could trap") and leaves the gate math scalar
# wherever there are no AVX-512 masked instructions (3x the GEMM's time per step on AVX2).
# It changes no value: NaN and Inf still propagate, no reassociation.
_COMMON = ["-shared", "-fPIC", "-std=gnu11", "-fno-math-errno", "-fno-trapping-math"]


class KernelUnavailable(RuntimeError):
    """The fused kernels cannot be built or loaded on this machine."""


_INTS = (
    "cell", "T", "B", "H", "P", "G", "I", "cifg", "reverse", "nthreads", "save", "units", "xw_rs",
    "out_rs", "dout_st", "dout_sb", "dout_sf",
)  # fmt: skip
_POINTERS = (
    "lengths", "xw", "x", "wih", "bias", "h0", "c0", "U", "bhh", "whr", "wch", "lng", "lnb",
    "lncg", "lncb", "rmask", "zmh", "zmc", "out", "hT", "cT", "cseq", "cnew", "hin", "hprev",
    "hn", "lnhat", "lnrstd", "cnhat", "cnrstd", "dout", "dhT", "dcT", "dxw", "dhw", "dh0",
    "dc0", "dwch", "dlng", "dlnb", "dlncg", "dlncb", "dhnew", "mbuf",
)  # fmt: skip


class RecArgs(ctypes.Structure):
    """Mirror of `RecArgs` in kernels/common.h, field for field."""

    _fields_ = [
        *((n, ctypes.c_int64) for n in _INTS),
        ("zh", ctypes.c_double),
        ("zc", ctypes.c_double),
        *((n, ctypes.c_void_p) for n in _POINTERS),
    ]


_lock = threading.Lock()
_loaded: dict[tuple[str, str], ctypes.CDLL] = {}
_failed: dict[tuple[str, str], str] = {}
_functions: dict[tuple[str, torch.dtype, str], ctypes._CFuncPtr] = {}
_targets: dict[tuple[str, str], tuple[int, bool]] = {}


def kernel(family: str, dtype: torch.dtype, direction: str) -> ctypes._CFuncPtr:
    """The C function `lk_{family}_{direction}_{f32|f64}`, building its library if needed.

    Args:
        family: "lstm" or "gru" (the GRU library also holds the Elman RNN).
        dtype: torch.float32 or torch.float64.
        direction: "forward" or "backward".
    Returns:
        A ctypes function taking an array of RecArgs (one per direction of a layer), their
        number, and whether the directions run concurrently.
    Raises:
        KernelUnavailable: when no compiler is found or the build fails (cached per process).
    """
    key = (family, dtype, direction)
    fn = _functions.get(key)
    if fn is None:
        lib = library(family, DTYPES[dtype])
        fn = getattr(lib, f"lk_{family}_{direction}_{DTYPES[dtype]}")
        fn.argtypes = [ctypes.POINTER(RecArgs), ctypes.c_int64, ctypes.c_int64]
        fn.restype = None
        _functions[key] = fn
    return fn


def matmul(family: str, dtype: torch.dtype) -> ctypes._CFuncPtr:
    """The C GEMM `lk_matmul_{f32|f64}` of a family's library (see kernels/matmul.h)."""
    key = (family, dtype, "matmul")
    fn = _functions.get(key)
    if fn is None:
        fn = getattr(library(family, DTYPES[dtype]), f"lk_matmul_{DTYPES[dtype]}")
        i64, ptr = ctypes.c_int64, ctypes.c_void_p
        fn.argtypes = [i64, i64, i64, i64, ptr, i64, ptr, i64, i64, ptr, ptr, i64, i64, i64]
        fn.restype = None
        _functions[key] = fn
    return fn


def kernel_target(family: str = "lstm", dtype: torch.dtype = torch.float32) -> tuple[int, bool]:
    """What the kernels were compiled for here: (vector width in bits, whether FMA is used).

    256 or 512 with FMA means the AVX2 or AVX-512 build of -march=native; 128 a fallback
    flag set or a CPU with 16-byte vectors only. Builds the library if needed.

    Raises:
        KernelUnavailable: when the library cannot be built or loaded.
    """
    key = (family, DTYPES[dtype])
    if key not in _targets:  # only successes are kept: a failed build is retried as before
        fn = getattr(library(*key), f"lk_target_{DTYPES[dtype]}")
        fn.argtypes, fn.restype = [], ctypes.c_int64
        code = fn()
        _targets[key] = (code & ~1, bool(code & 1))
    return _targets[key]


def library(family: str, suffix: str) -> ctypes.CDLL:
    """Load (building on first use) the kernel library of one family and dtype suffix."""
    key = (family, suffix)
    if key in _loaded:
        return _loaded[key]
    with _lock:
        if key in _failed:
            raise KernelUnavailable(_failed[key])
        if key not in _loaded:
            try:
                _loaded[key] = ctypes.CDLL(str(_build(family, suffix)))
            except (KernelUnavailable, OSError) as err:
                _failed[key] = str(err)
                raise KernelUnavailable(str(err)) from err
    return _loaded[key]


def available(dtype: torch.dtype, family: str = "lstm") -> str | None:
    """None when the kernels for `dtype` can run here, else the reason they cannot."""
    if dtype not in DTYPES:
        return f"the fused kernels are compiled for float32 and float64, not {dtype}"
    try:
        library(family, DTYPES[dtype])
    except KernelUnavailable as err:
        return f"the fused C kernels are unavailable: {err}"
    return None


def cache_dir() -> Path:
    """Where built libraries are kept between processes."""
    if os.environ.get("LSTMKIT_CACHE_DIR"):
        return Path(os.environ["LSTMKIT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lstmkit"


def _compiler() -> str:
    if os.environ.get("LSTMKIT_NO_COMPILE"):
        raise KernelUnavailable("LSTMKIT_NO_COMPILE is set")
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    raise KernelUnavailable("no C compiler found (install gcc or set CC)")


def _fingerprint(cc: str, family: str, suffix: str) -> str:
    """A hash of everything the library depends on; cheap enough to compute per process."""
    h = hashlib.sha256()
    for name in sorted(p.name for p in KERNEL_DIR.iterdir() if p.suffix in (".c", ".h")):
        h.update(name.encode() + (KERNEL_DIR / name).read_bytes())
    stat = os.stat(cc)
    h.update(f"{cc}:{stat.st_size}:{stat.st_mtime_ns}:{family}:{suffix}".encode())
    flags = _SUFFIX_FLAG_SETS.get(suffix, _FLAG_SETS), _DEFINES.get(suffix)
    h.update(f"{platform.machine()}:{_cpu_flags()}:{flags}:{_COMMON}".encode())
    return h.hexdigest()[:16]


def _cpu_flags() -> str:
    """-march=native code is only valid on CPUs with the same features."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return line
    except OSError:
        pass
    return platform.processor()


def _build(family: str, suffix: str) -> Path:
    cc = _compiler()
    target = cache_dir() / f"{family}_{suffix}_{_fingerprint(cc, family, suffix)}.so"
    if target.exists():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise KernelUnavailable(f"cannot create the kernel cache {target.parent}: {err}") from err
    source = KERNEL_DIR / SOURCES[family]
    defines = _DEFINES.get(suffix, [])
    errors = []
    for flags in _SUFFIX_FLAG_SETS.get(suffix, _FLAG_SETS):
        # Build beside the target and rename: concurrent processes never load half a file.
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
        os.close(fd)
        cmd = [cc, *flags, *_COMMON, *defines, str(source), "-o", tmp, "-lm"]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode == 0:
            os.replace(tmp, target)
            return target
        os.unlink(tmp)
        errors.append(f"{' '.join(cmd)}\n{result.stderr.strip()[-600:]}")
    raise KernelUnavailable("compiling the fused kernels failed:\n" + "\n".join(errors))


def uses_torch_openmp() -> bool:
    """Whether one OpenMP runtime serves torch and the kernels (Linux: one libgomp mapped)."""
    if not sys.platform.startswith("linux"):
        return True
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "libgomp" in line}
    return len(paths) <= 1
