"""How the test bed gets an image: pull the stock one first, build offline when that fails (or OFFLINE=1),
and the offline building blocks every image is made of (Go binaries, Debian root filesystems, small images on
top of them). Every offline artifact is content-addressed: its tag ends in a hash of its inputs, so an
unchanged image is never rebuilt and a changed input always is; docker tags an image only when its build
succeeded. The images themselves are in chaos_harness/testbed/images.py."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from chaos_harness.core.cancellation import waiting
from chaos_harness.core.resources import IMAGES
from chaos_harness.testbed import versions
from chaos_harness.testbed.shell import run

log = logging.getLogger("chaos_harness.images")


REPO_ROOT = Path(__file__).resolve().parents[2]


IMAGES_DIR = IMAGES


LOCAL_REPO = "chaos-harness"


# The base of every image that runs inside the cluster's containerd (control plane, CNI, storage helper).
TOOLS_PACKAGES = ("iptables", "nftables", "iproute2", "conntrack", "procps", "ca-certificates", "bash")


@dataclass
class Timings:
    """Seconds spent per build stage, for the closing figures."""

    stages: dict[str, float] = field(default_factory=dict)

    def record(self, stage: str, started: float) -> None:
        self.stages[stage] = round(time.monotonic() - started, 1)


def digest(*parts: str | bytes | Path) -> str:
    """A short content hash of strings, bytes and files (directories hashed file by file, sorted)."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            files = sorted(p for p in part.rglob("*") if p.is_file()) if part.is_dir() else [part]
            for f in files:
                h.update(str(f.relative_to(REPO_ROOT) if f.is_relative_to(REPO_ROOT) else f).encode())
                h.update(f.read_bytes())
        else:
            h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:12]


def image_exists(ref: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", ref], capture_output=True).returncode == 0


def prune_superseded(tag: str) -> None:
    """Remove older content-hashed tags of the same repository; images still used by a container stay."""
    repo = tag.rsplit(":", 1)[0]
    out = subprocess.run(["docker", "images", repo, "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
                         text=True).stdout.split()
    for old in out:
        if old != tag:
            subprocess.run(["docker", "rmi", old], capture_output=True)


def try_pull(ref: str) -> bool:
    result = subprocess.run(["docker", "pull", ref], capture_output=True, text=True)
    if result.returncode != 0:
        log.debug("pull %s failed: %s", ref, result.stderr.strip())
    return result.returncode == 0


def cache_dir() -> Path:
    root = Path(os.environ.get("CHAOS_HARNESS_CACHE", Path.home() / ".cache" / "chaos-harness"))
    root.mkdir(parents=True, exist_ok=True)
    return root


PULL_DEADLINE = 600    # what try_pull allows a pull


BUILD_DEADLINE = 3600  # a cold offline build of every stage on 2 cores takes ~10 min; the deadline is generous


def offline_requested() -> bool:
    return os.environ.get("OFFLINE", "") not in ("", "0", "false", "no")


def resolve(stock: str | None, build: Callable[[], str], what: str) -> str:
    """Pull `stock` unless OFFLINE is set; on failure (or no stock image) build offline. Logs which path."""
    if stock and not offline_requested():
        if image_exists(stock):
            return stock
        with waiting(f"{what}: pulling {stock}", PULL_DEADLINE):
            pulled = try_pull(stock)
        if pulled:
            log.info("%s: using stock image %s (pulled)", what, stock)
            return stock
        log.info("%s: pulling %s failed; building offline", what, stock)
    else:
        log.info("%s: building offline%s", what, " (OFFLINE=1)" if stock else "")
    with waiting(f"{what}: offline build (cached layers are reused; a cold build takes ~10 min)", BUILD_DEADLINE):
        return build()


def go_build_module(module: str, version: str, package: str, binary: Path) -> None:
    """Build `package` of `module@version` into `binary`, from a throwaway main module.

    Building from our own main module means the dependency's replace directives (etcd's point at sibling
    directories that are not in its module zip) are ignored, as Go ignores them for any dependency.
    """
    binary.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="chaos-harness-gobuild-") as work:
        Path(work, "go.mod").write_text(f"module chaos-harness.local/build\n\ngo 1.24.0\n\nrequire {module} {version}\n")
        Path(work, "main.go").write_text("package main\n")
        env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
        run(["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(binary), package], cwd=work, env=env)


def cached_binaries(name: str, key: str, build: Callable[[Path], None], timings: Timings) -> Path:
    """A directory of binaries built once per key; a marker file is written only after a successful build."""
    target = cache_dir() / "bin" / f"{name}-{key}"
    marker = target / ".complete"
    if marker.exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    started = time.monotonic()
    log.info("building %s binaries (%s)", name, key)
    build(target)
    marker.write_text("ok\n")
    timings.record(f"go build {name}", started)
    return target


def kubernetes_binaries(timings: Timings) -> Path:
    script = IMAGES_DIR / "kubernetes" / "build.sh"
    key = f"{versions.KUBERNETES}-{digest(script)}"
    return cached_binaries("kubernetes", key, lambda out: run(["bash", str(script), versions.KUBERNETES, str(out)]),
                           timings)


def module_binary(name: str, module: str, version: str, package: str | None = None) -> Callable[[Timings], Path]:
    """A builder for one binary of a published Go module, cached per version under `name`."""

    def build(timings: Timings) -> Path:
        return cached_binaries(name, version,
                               lambda out: go_build_module(module, version, package or module, out / name), timings)

    return build


def project_binary(name: str, binary: str) -> Callable[[Timings], Path]:
    """A builder for a static binary of one of the project's own Go modules (images/<name>), cached per hash
    of its source."""
    src = IMAGES_DIR / name

    def build(timings: Timings) -> Path:
        def compile_into(out: Path) -> None:
            out.mkdir(parents=True, exist_ok=True)
            run(["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(out / binary), "."], cwd=src,
                env={**os.environ, "CGO_ENABLED": "0"})

        return cached_binaries(name, digest(src), compile_into, timings)

    return build


def rootfs_image(name: str, packages: Iterable[str], timings: Timings) -> str:
    script = IMAGES_DIR / "rootfs" / "build.sh"
    pkgs = ",".join(packages)
    tag = f"{LOCAL_REPO}/rootfs-{name}:{versions.DEBIAN_SUITE}-{digest(script, pkgs, versions.DEBIAN_SUITE)}"
    if image_exists(tag):
        return tag
    started = time.monotonic()
    log.info("debootstrap %s root filesystem -> %s", name, tag)
    run(["bash", str(script), tag, versions.DEBIAN_SUITE, pkgs])
    timings.record(f"rootfs {name}", started)
    return tag


def docker_build(tag: str, context: Path, dockerfile: str) -> None:
    (context / "Dockerfile").write_text(dockerfile)
    run(["docker", "build", "-q", "-t", tag, str(context)], env={**os.environ, "DOCKER_BUILDKIT": "0"}, capture=True)


@dataclass(frozen=True)
class ComponentImage:
    """An image that runs inside the cluster: built locally, loaded into the node under `node_ref`."""

    local_ref: str
    node_ref: str


def file_mode(dest: str) -> int:
    """Modes are part of the image, not of whatever checkout it was built from: executables live in a bin
    directory or at the root (/pause, /coredns)."""
    return 0o755 if "/bin/" in dest or dest.count("/") == 1 else 0o644


def local_image(name: str, base: str, files: dict[str, Path], dockerfile_tail: str, timings: Timings) -> str:
    """Build FROM `base`, copying `files` (path in image -> host file), then `dockerfile_tail`; return the tag."""
    tag = f"{LOCAL_REPO}/{name}:{digest(base, dockerfile_tail, *[f'{k}={digest(v)}:{file_mode(k):o}' for k, v in sorted(files.items())])}"
    if not image_exists(tag):
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=f"chaos-harness-{name}-") as tmp:
            ctx = Path(tmp)
            lines = [f"FROM {base}"]
            for i, (dest, src) in enumerate(sorted(files.items())):
                shutil.copyfile(src, ctx / f"f{i}")
                (ctx / f"f{i}").chmod(file_mode(dest))
                lines.append(f"COPY f{i} {dest}")
            docker_build(tag, ctx, "\n".join(lines) + "\n" + dockerfile_tail + "\n")
        timings.record(f"image {name}", started)
        prune_superseded(tag)
    return tag


def component_image(name: str, base: str, files: dict[str, Path], dockerfile_tail: str, node_ref: str | None,
                    timings: Timings) -> ComponentImage:
    """An in-cluster image, loaded into the node as `node_ref` (default: its own name on docker.io)."""
    tag = local_image(name, base, files, dockerfile_tail, timings)
    return ComponentImage(local_ref=tag, node_ref=node_ref or f"docker.io/{tag}")


# Host tools the offline build runs, with the fix for each; checked before any stage starts.
BUILD_TOOLS = {
    "docker": "a docker engine: make engine",
    "debootstrap": "make host, or apt-get install debootstrap",
    "go": "Go >= 1.24 on PATH",
    "tar": "apt-get install tar",
}


def build_log_dir() -> Path:
    return cache_dir() / "logs"
