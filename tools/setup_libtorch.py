#!/usr/bin/env python3
"""Provision libtorch for the workspace, idempotently (`make setup`).

Resolves which libtorch the build uses, in this order:
  1. LIBTORCH=<dir>            a libtorch the user already has (lib/ and include/ inside);
  2. LIBTORCH_USE_PYTORCH=1    the `torch` package of the current python3;
  3. otherwise the project's own install, from the PyPI torch wheel, into a per-user cache
     ($DL_SHOWCASES_CACHE, else $XDG_CACHE_HOME/dl-showcases, else ~/.cache/dl-showcases).
     Variant `cpu` (default): the wheel's CPU libraries only, plus the two small CUDA runtime
     wheels libtorch_cpu.so links against. Variant `cuda` (CUDA=1, or a GPU seen by
     nvidia-smi): the whole wheel and its CUDA libraries.

Then writes `.cargo/config.toml` (not committed) so that a plain `cargo build` finds that
libtorch, and so that the binaries carry an rpath to it and run from target/ with no
environment variables. Only the standard library is used; wheels come through `pip download`.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

# The one place the libtorch version lives. tch 0.24.0 requires exactly this release; moving
# to a newer pair is this line plus the `tch` pin in Cargo.toml.
TORCH_VERSION = "2.11.0"
# The CUDA runtime wheels libtorch_cpu.so needs at load time (libcudart, libcupti), even on CPU.
CUDA_RUNTIME = "cuda-toolkit[cudart,cupti]==13.0.2"
# Libraries of the wheel that only the CUDA variant needs.
CUDA_ONLY_LIBS = ("cuda", "nvshmem", "nvrtc", "torch_python")
# Debian packages the workspace builds against (ale-sys needs cmake and zlib, hdf5 its headers).
SYSTEM_PACKAGES = {
    "cmake": "cmake",
    "pkg-config": "pkg-config",
    "libhdf5-dev": "hdf5 (datasets: HDF5 import/export)",
    "zlib1g-dev": "zlib",
}
REPO = Path(__file__).resolve().parent.parent


def log(msg):
    print(f"setup: {msg}", flush=True)


def cache_root():
    if os.environ.get("DL_SHOWCASES_CACHE"):
        return Path(os.environ["DL_SHOWCASES_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "dl-showcases"


def gpu_present():
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def pip_download(dest, *specs, deps):
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary", ":all:",
           "-d", str(dest)]
    if not deps:
        cmd.append("--no-deps")
    cmd.extend(specs)
    log("running " + " ".join(cmd[1:]))
    if subprocess.run(cmd).returncode != 0:
        sys.exit(f"setup: `pip download {' '.join(specs)}` failed; check the network "
                 "(a package index must be reachable) or point LIBTORCH at a libtorch "
                 f"{TORCH_VERSION} you already have.")


def torch_requirements(wheel):
    """The nvidia/cuda requirements declared by the torch wheel (for the CUDA variant)."""
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        lines = z.read(meta).decode().splitlines()
    reqs = []
    for line in lines:
        if not line.startswith("Requires-Dist: "):
            continue
        req = line[len("Requires-Dist: "):]
        spec, _, marker = req.partition(";")
        if spec.strip().startswith(("nvidia-", "cuda-")) and "extra ==" not in marker:
            reqs.append(spec.strip().replace(" ", ""))
    return reqs


def extract(wheel, dest, keep):
    """Extract the members of a wheel for which keep(name) is true."""
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            if keep(info.filename):
                z.extract(info, dest)
                mode = info.external_attr >> 16
                if mode:
                    os.chmod(dest / info.filename, mode & 0o777 | 0o600)


def install_wheels(target, variant):
    """Download and unpack libtorch into `target`, atomically (temp dir, then rename)."""
    cache = target.parent
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=cache))
    try:
        wheels = work / "wheels"
        pip_download(wheels, f"torch=={TORCH_VERSION}", deps=False)
        torch_wheel = next(wheels.glob("torch-*.whl"))
        if variant == "cpu":
            pip_download(wheels, CUDA_RUNTIME, deps=True)
        else:
            pip_download(wheels, *torch_requirements(torch_wheel), deps=True)
        tree = work / "tree"

        def keep_torch(name):
            if name.startswith("torch/include/"):
                return True
            if not name.startswith("torch/lib/") or name.endswith("/"):
                return False
            base = name.rsplit("/", 1)[-1]
            return variant == "cuda" or not any(tag in base for tag in CUDA_ONLY_LIBS)

        log(f"unpacking {torch_wheel.name} ({variant} libraries)")
        extract(torch_wheel, tree, keep_torch)
        for wheel in sorted(wheels.glob("nvidia_*.whl")):
            extract(wheel, tree, lambda n: n.startswith("nvidia/") and not n.endswith("/"))
        (tree / "torch" / "build-version").write_text(TORCH_VERSION + "\n")
        manifest = {"version": TORCH_VERSION, "variant": variant,
                    "wheels": sorted(w.name for w in wheels.glob("*.whl"))}
        (tree / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        tree.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def cached_install(variant):
    target = cache_root() / "libtorch" / f"{TORCH_VERSION}-{variant}"
    manifest = target / "manifest.json"
    if manifest.exists() and json.loads(manifest.read_text()).get("version") == TORCH_VERSION:
        log(f"libtorch {TORCH_VERSION} ({variant}) already in {target}")
    else:
        install_wheels(target, variant)
        log(f"installed libtorch {TORCH_VERSION} ({variant}) in {target} ({du(target)})")
    return target / "torch"


def du(path):
    total = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return f"{total / 2**30:.2f} GiB"


def pytorch_dir():
    code = "import torch, os; print(os.path.dirname(torch.__file__))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("setup: LIBTORCH_USE_PYTORCH is set but `import torch` fails in "
                 f"{sys.executable}; install torch=={TORCH_VERSION} or unset the variable.")
    return Path(out.stdout.strip())


def resolve(variant_flag):
    if os.environ.get("LIBTORCH"):
        root = Path(os.environ["LIBTORCH"]).expanduser().resolve()
        source = "LIBTORCH"
    elif os.environ.get("LIBTORCH_USE_PYTORCH"):
        root = pytorch_dir()
        source = "PyTorch"
    else:
        variant = variant_flag or ("cuda" if gpu_present() else "cpu")
        return cached_install(variant), variant
    if not (root / "lib" / "libtorch_cpu.so").exists():
        sys.exit(f"setup: {source} points at {root}, which has no lib/libtorch_cpu.so; "
                 "it must be a libtorch directory (with lib/ and include/).")
    variant = "cuda" if (root / "lib" / "libtorch_cuda.so").exists() else "cpu"
    return root, f"{variant} ({source})"


def write_cargo_config(root, variant):
    lib = root / "lib"
    flags = [f"-Wl,-rpath,{lib}"]
    if (lib / "libtorch_cuda.so").exists():
        # The linker's --as-needed drops libtorch_cuda (nothing references its symbols
        # directly), and then CUDA is silently unavailable: force it into DT_NEEDED.
        flags.append("-Wl,--no-as-needed,-ltorch_cuda,--as-needed")
    rustflags = ", ".join(f'"-C", "link-arg={f}"' for f in flags)
    text = f"""# Written by `make setup` (tools/setup_libtorch.py); not committed. Run it again to update.
[env]
LIBTORCH = "{root}"
DL_LIBTORCH_VARIANT = "{variant}"

[target.'cfg(target_os = "linux")']
rustflags = [{rustflags}]
"""
    path = REPO / ".cargo" / "config.toml"
    path.parent.mkdir(exist_ok=True)
    if path.exists() and path.read_text() == text:
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.rename(path)
    log(f"wrote {path.relative_to(REPO)}")


def system_packages():
    if not shutil.which("dpkg-query"):
        log("not a Debian-like system: make sure cmake, pkg-config, HDF5 and zlib headers "
            "are installed")
        return
    missing = []
    for pkg in SYSTEM_PACKAGES:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True,
                             text=True)
        if "install ok installed" not in out.stdout:
            missing.append(pkg)
    if not missing:
        return
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if os.geteuid() != 0:
        log("missing system packages; run: sudo apt-get update && sudo " + " ".join(cmd))
        return
    log("installing system packages: " + " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if subprocess.run(cmd, env=env).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env)
        if subprocess.run(cmd, env=env).returncode != 0:
            sys.exit("setup: could not install " + " ".join(missing))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=["cpu", "cuda"],
                        help="force a variant of the cached install (default: cuda if "
                             "nvidia-smi sees a GPU, else cpu)")
    parser.add_argument("--no-system", action="store_true",
                        help="do not check or install Debian packages")
    args = parser.parse_args()
    if not args.no_system:
        system_packages()
    root, variant = resolve(args.variant)
    write_cargo_config(root, variant)
    log(f"libtorch {root} ({variant})")


if __name__ == "__main__":
    main()
