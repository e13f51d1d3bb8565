"""The test bed's images: the kind node image (with every component image pre-loaded), the node agent, the
MySQL workload (stock, or MariaDB built offline) and the harness itself for scheduled runs; each pulled first,
built offline (chaos_harness/testbed/build.py) when that fails."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from chaos_harness.core.cancellation import waiting
from chaos_harness.testbed import versions
from chaos_harness.testbed.build import (BUILD_TOOLS, IMAGES_DIR, LOCAL_REPO, REPO_ROOT, TOOLS_PACKAGES, ComponentImage,
                                         Timings, build_log_dir, component_image, digest, docker_build, image_exists,
                                         kubernetes_binaries, local_image, module_binary, offline_requested,
                                         project_binary, prune_superseded, resolve, rootfs_image, try_pull)
from chaos_harness.testbed.shell import BuildError, require_tools, run, run_stages
from chaos_harness.workload.images import MySQLImages  # the refs it builds: re-exported for the test bed's callers

log = logging.getLogger("chaos_harness.images")

# Debian packages of the node's root filesystem: what kind's base image installs, with Debian's containerd,
# runc and CNI plugins in place of kind's own builds.
NODE_PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "iptables", "nftables", "iproute2", "procps", "conntrack", "ethtool",
    "util-linux", "mount", "kmod", "libseccomp2", "pigz", "containerd", "runc", "containernetworking-plugins",
    "ca-certificates", "bash", "jq", "socat", "curl",
)


# --- Go binaries ---------------------------------------------------------------------------------------------

etcd_binaries = module_binary("etcd", "go.etcd.io/etcd/server/v3", versions.ETCD_MODULE)
coredns_binaries = module_binary("coredns", "github.com/coredns/coredns", versions.COREDNS)
local_path_binaries = module_binary("local-path-provisioner", "github.com/rancher/local-path-provisioner",
                                    versions.LOCAL_PATH_PROVISIONER)


crictl_binaries = project_binary("crictl", "crictl")
# The node agent: the same static binary images/agent/Dockerfile builds for users.
agent_binaries = project_binary("agent", "chaos-agent")


# --- images --------------------------------------------------------------------------------------------------

def dockerfile_labels(dockerfile: Path) -> str:
    """The LABEL instructions of a Dockerfile (continuation lines joined): what the offline build states too."""
    text = dockerfile.read_text().replace("\\\n", " ")
    return "\n".join(line for line in text.splitlines() if line.startswith("LABEL "))


def agent_image(timings: Timings | None = None) -> ComponentImage:
    """The node agent's image: the tools base (nsenter) and the agent binary, with the measured CPU and memory
    that images/agent/Dockerfile states in its labels. Pre-loaded in the offline node image; `kind load`ed onto
    a cluster from the stock node image."""
    timings = timings or Timings()
    tools = rootfs_image("tools", TOOLS_PACKAGES, timings)
    agent = agent_binaries(timings)
    labels = dockerfile_labels(IMAGES_DIR / "agent" / "Dockerfile")
    return component_image("node-agent", tools, {"/usr/local/bin/chaos-agent": agent / "chaos-agent"},
                           f'{labels}\nENTRYPOINT ["/usr/local/bin/chaos-agent"]', None, timings)


def kubeadm_images(kubeadm: Path) -> dict[str, str]:
    """kubeadm's own list of the images it will use, keyed by short name (kube-apiserver, etcd, pause...)."""
    out = run([str(kubeadm), "config", "images", "list", "--kubernetes-version", versions.KUBERNETES], capture=True)
    images = {}
    for ref in out.split():
        short = ref.rsplit("/", 1)[-1].split(":", 1)[0]
        images[short] = ref
    return images


def build_components(timings: Timings) -> tuple[Path, list[ComponentImage], dict[str, str], Path]:
    """Every binary and in-cluster image the node image needs.
    Returns (k8s bin dir, images, manifest params, crictl bin dir)."""
    require_tools(BUILD_TOOLS)

    def go_binaries() -> tuple[Path, Path, Path, Path, Path]:
        # One lane: each Go build already uses every core, so running them side by side gains nothing.
        return (kubernetes_binaries(timings), etcd_binaries(timings), coredns_binaries(timings),
                local_path_binaries(timings), crictl_binaries(timings), agent_binaries(timings))

    # debootstrap is network- and disk-bound: let it overlap the CPU-bound Go builds. A failed stage stops
    # the others at once (run_stages), so a bad debootstrap does not wait for ten minutes of Go builds.
    log.info("build stages: rootfs tools, rootfs node, go binaries (logs in %s)", build_log_dir())
    done = run_stages({
        "rootfs tools": lambda: rootfs_image("tools", TOOLS_PACKAGES, timings),
        "rootfs node": lambda: rootfs_image("node", NODE_PACKAGES, timings),
        "go binaries": go_binaries,
    }, build_log_dir())
    tools = done["rootfs tools"]
    k8s, etcd, coredns, local_path, crictl, _agent = done["go binaries"]

    upstream = kubeadm_images(k8s / "kubeadm")
    images: list[ComponentImage] = []
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"):
        images.append(component_image(name, tools, {f"/usr/local/bin/{name}": k8s / name}, "", upstream[name], timings))
    images.append(component_image(
        "etcd", tools, {"/usr/local/bin/etcd": etcd / "etcd"}, "", upstream["etcd"], timings))
    images.append(component_image(
        "coredns", tools, {"/coredns": coredns / "coredns"}, 'ENTRYPOINT ["/coredns"]', upstream["coredns"], timings))
    images.append(component_image(
        "pause", "scratch", {"/pause": k8s / "pause"}, 'ENTRYPOINT ["/pause"]', upstream["pause"], timings))
    cni = component_image(
        "chaosnet", tools,
        {"/usr/local/bin/kubectl": k8s / "kubectl", "/usr/local/bin/chaosnet": IMAGES_DIR / "chaosnet" / "chaosnet.sh"},
        'ENTRYPOINT ["/usr/local/bin/chaosnet"]', None, timings)
    provisioner = component_image(
        "local-path-provisioner", tools,
        {"/usr/local/bin/local-path-provisioner": local_path / "local-path-provisioner"},
        'ENTRYPOINT ["/usr/local/bin/local-path-provisioner"]', None, timings)
    # The storage helper only runs `sh -c mkdir/rm`: the tools base already has that.
    helper = ComponentImage(local_ref=tools, node_ref=f"docker.io/{tools}")
    images += [cni, provisioner, helper, agent_image(timings)]
    params = {
        "CNI_IMAGE": cni.node_ref,
        "STORAGE_PROVISIONER_IMAGE": provisioner.node_ref,
        "STORAGE_HELPER_IMAGE": helper.node_ref,
        "PAUSE_IMAGE": upstream["pause"],
    }
    return k8s, images, params, crictl


def render(template: Path, params: dict[str, str]) -> str:
    text = template.read_text()
    for key, value in params.items():
        text = text.replace(f"@{key}@", value)
    return text


def kind_base_files() -> Path:
    """kind's own base-image files (entrypoint, systemd units, kubelet drop-ins) from its Go module."""
    out = run(["go", "mod", "download", "-json", f"sigs.k8s.io/kind@{versions.KIND}"], capture=True,
              cwd=tempfile.gettempdir())
    return Path(json.loads(out)["Dir"]) / "images" / "base" / "files"


NODE_SETUP = r"""
RUN set -eux; \
    chmod 0755 /usr/local/bin/* /kind/bin/* /usr/bin/kubelet /usr/bin/kubeadm /usr/bin/kubectl; \
    ln -sf /usr/bin/containerd /usr/local/bin/containerd; \
    mkdir -p /opt/cni/bin /etc/cni/net.d /etc/kubernetes/manifests; \
    for p in /usr/lib/cni/*; do ln -sf "$p" /opt/cni/bin/; done; \
    ctr oci spec \
      | jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
      | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json; \
    find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete; \
    rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
          /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
          /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*; \
    echo "ReadKMsg=no" >> /etc/systemd/journald.conf; \
    systemctl enable kubelet.service containerd.service undo-mount-hacks.service; \
    systemctl mask systemd-binfmt.service; \
    containerd --version; runc --version; kubelet --version
ENV container=docker
STOPSIGNAL SIGRTMIN+3
"""


def build_node_image(timings: Timings) -> str:
    """Build the kind node image offline and return its tag."""
    k8s, images, params, crictl = build_components(timings)
    node_rootfs = rootfs_image("node", NODE_PACKAGES, timings)
    node_files = IMAGES_DIR / "node" / "files"
    base_files = kind_base_files()
    key = digest(
        node_rootfs, NODE_SETUP, versions.KUBERNETES, versions.KIND, node_files, base_files,
        *(f"{i.local_ref}={i.node_ref}" for i in images),
        *(digest(k8s / b) for b in ("kubelet", "kubeadm", "kubectl")), digest(crictl / "crictl"),
    )
    tag = f"{LOCAL_REPO}/node:{versions.KUBERNETES}-{key}"
    if image_exists(tag):
        return tag

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="chaos-harness-node-") as tmp:
        ctx = Path(tmp)
        rootfs = ctx / "rootfs"
        shutil.copytree(base_files, rootfs, dirs_exist_ok=True)
        shutil.rmtree(rootfs / "LICENSES", ignore_errors=True)
        for template in node_files.rglob("*"):
            if template.is_file():
                rel = template.relative_to(node_files)
                dest = rootfs / (str(rel)[:-3] if template.suffix == ".in" else rel)
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_text(render(template, params))
        (rootfs / "etc/containerd/config.toml").write_text(render(node_files / "etc/containerd/config.toml", params))
        (rootfs / "kind/version").write_text(versions.KUBERNETES)
        (rootfs / "usr/bin").mkdir(parents=True, exist_ok=True)
        for b in ("kubelet", "kubeadm", "kubectl"):
            shutil.copy2(k8s / b, rootfs / "usr/bin" / b)
        shutil.copy2(crictl / "crictl", rootfs / "usr/local/bin/crictl")
        for path in rootfs.rglob("*"):
            if path.is_dir():
                path.chmod(0o755)
            elif path.is_file():
                path.chmod(0o644)
        docker_build(f"{tag}-files", ctx, f"FROM {node_rootfs}\nCOPY rootfs/ /\n{NODE_SETUP}")
    try:
        preload_images(f"{tag}-files", tag, images)
    finally:
        subprocess.run(["docker", "rmi", f"{tag}-files"], capture_output=True)
    timings.record("node image", started)
    prune_superseded(tag)
    return tag


def preload_images(base: str, tag: str, images: Sequence[ComponentImage]) -> None:
    """Import every component image into the node's containerd (k8s.io namespace), then commit as `tag`.

    Same approach as kind's own node-image build: run the image, start containerd in it, `ctr images import`,
    re-tag to the names kubeadm and the manifests use, stop containerd, `docker commit`.
    """
    name = f"chaos-harness-build-{os.getpid()}-{int(time.time())}"
    run(["docker", "run", "-d", "--name", name, "--entrypoint=sleep", "--security-opt", "seccomp=unconfined",
         base, "infinity"], capture=True)
    try:
        def in_node(*cmd: str, stdin: Path | None = None) -> str:
            return run(["docker", "exec", *(["-i"] if stdin else []), name, *cmd], capture=True, stdin=stdin)

        in_node("bash", "-c", "nohup containerd > /var/log/containerd-build.log 2>&1 &")
        in_node("bash", "-c", "for i in $(seq 1 50); do [ -S /run/containerd/containerd.sock ] && ctr version "
                              ">/dev/null 2>&1 && exit 0; sleep 0.2; done; cat /var/log/containerd-build.log; exit 1")
        with tempfile.TemporaryDirectory(prefix="chaos-harness-save-") as tmp:
            archive = Path(tmp) / "images.tar"
            run(["docker", "save", "-o", str(archive), *sorted({i.local_ref for i in images})])
            in_node("ctr", "--namespace=k8s.io", "images", "import", "--label=io.cri-containerd.pinned=pinned",
                    "--all-platforms", "--no-unpack", "--digests", "-", stdin=archive)
        for image in images:
            source = image.local_ref if "/" in image.local_ref.split(":")[0] else f"library/{image.local_ref}"
            in_node("ctr", "--namespace=k8s.io", "images", "tag", "--force", f"docker.io/{source}", image.node_ref)
        listed = in_node("ctr", "--namespace=k8s.io", "images", "list", "-q").split()
        missing = [i.node_ref for i in images if i.node_ref not in listed]
        if missing:
            raise BuildError(f"images missing from the node's containerd after import: {missing}")
        # The container's PID 1 is `sleep`, which reaps nothing: a stopped containerd stays a zombie, so wait
        # for it to leave the live run states rather than for it to disappear.
        in_node("bash", "-c", "pkill -x containerd; for i in $(seq 1 100); do pgrep -x -r R,S,D,T containerd "
                              ">/dev/null || exit 0; sleep 0.2; done; exit 1")
        run(["docker", "commit", "--change", 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]',
             "--change", "CMD []", name, tag], capture=True)
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True)


# --- workload images -----------------------------------------------------------------------------------------

MARIADB_PACKAGES = ("mariadb-server", "mariadb-client", "mariadb-backup", "ncat", "procps", "bash", "ca-certificates")
# Upstream images of the tutorial "Run a Replicated Stateful Application".
STOCK_MYSQL_IMAGE = "mysql:5.7"
STOCK_XTRABACKUP_IMAGE = "gcr.io/google-samples/xtrabackup:1.0"


def build_mariadb_image(timings: Timings) -> str:
    """One image serving both tutorial roles: MariaDB 10.11 as the server, mariabackup/mbstream under the
    xtrabackup/xbstream names the tutorial's scripts call, ncat for the clone stream."""
    require_tools({k: v for k, v in BUILD_TOOLS.items() if k != "go"})
    rootfs = rootfs_image("mariadb", MARIADB_PACKAGES, timings)
    here = IMAGES_DIR / "mariadb"
    return local_image("mariadb", rootfs, {
        "/usr/local/bin/docker-entrypoint.sh": here / "docker-entrypoint.sh",
        "/etc/mysql/mariadb.conf.d/99-chaos-harness.cnf": here / "server.cnf",
    }, "\n".join([
        "RUN chmod 0755 /usr/local/bin/docker-entrypoint.sh && chmod 0644 /etc/mysql/mariadb.conf.d/99-chaos-harness.cnf"
        " && ln -s /usr/bin/mariabackup /usr/local/bin/xtrabackup && ln -s /usr/bin/mbstream /usr/local/bin/xbstream"
        " && mariadbd --version && xtrabackup --version && ncat --version",
        "EXPOSE 3306",
        'ENTRYPOINT ["docker-entrypoint.sh"]',
        'CMD ["mysqld"]',
    ]), timings)


def mysql_images(timings: Timings | None = None) -> MySQLImages:
    """Pull the tutorial's images; when either pull fails (or OFFLINE=1), build the MariaDB image offline."""
    timings = timings or Timings()
    if not offline_requested():
        pulled = [ref for ref in (STOCK_MYSQL_IMAGE, STOCK_XTRABACKUP_IMAGE) if image_exists(ref) or try_pull(ref)]
        if len(pulled) == 2:
            log.info("mysql images: using stock images %s and %s (pulled)", STOCK_MYSQL_IMAGE, STOCK_XTRABACKUP_IMAGE)
            return MySQLImages(STOCK_MYSQL_IMAGE, STOCK_XTRABACKUP_IMAGE, "mysql")
        log.info("mysql images: pulling the tutorial's images failed; building MariaDB offline")
    else:
        log.info("mysql images: building MariaDB offline (OFFLINE=1)")
    tag = build_mariadb_image(timings)
    return MySQLImages(tag, tag, "mariadb")


def node_image(timings: Timings | None = None) -> str:
    """The kind node image to use: the stock kindest/node when it can be pulled, else our offline build."""
    timings = timings or Timings()
    return resolve(versions.STOCK_NODE_IMAGE, lambda: build_node_image(timings), "node image")



# --- the harness itself, for scheduled runs inside the cluster -----------------------------------------------

HARNESS_PACKAGES = ("python3", "python3-venv", "ca-certificates", "tar")
# What the installed venv carries that a run never imports: the kubernetes client's asyncio copy of itself
# (kubernetes/aio, 68 of the image's 385 MB; the harness uses the synchronous client) and the installers (pip,
# setuptools: 23 MB). Every node the schedule may run on gets a full copy of the image (`kind load`, ~8 s per
# node for 385 MB), so this is time on every install with changed sources. images/harness/Dockerfile does the same.
SLIM_VENV = ("rm -rf /opt/chaos-harness/lib/python3*/site-packages/kubernetes/aio "
             "&& /opt/chaos-harness/bin/python -m pip uninstall -q -y pip setuptools")


def harness_image(timings: Timings | None = None) -> ComponentImage:
    """The harness as a container image (what images/harness/Dockerfile builds for users), built offline: a
    Debian root filesystem with Python, and this checkout's wheel with its dependencies' wheels (from PyPI,
    through pip's cache) installed into a venv without any index."""
    import sys

    timings = timings or Timings()
    base = rootfs_image("python", HARNESS_PACKAGES, timings)
    # Wheels differ in their timestamps from build to build: the image is known by the sources it is built from.
    sources = [REPO_ROOT / "pyproject.toml", *sorted((REPO_ROOT / "chaos_harness").rglob("*.py"))]
    tag = f"{LOCAL_REPO}/harness:src-{digest(base, *sources)}"
    if image_exists(tag):
        return ComponentImage(local_ref=tag, node_ref=f"docker.io/{tag}")
    with tempfile.TemporaryDirectory(prefix="chaos-harness-wheels-") as tmp:
        wheels = Path(tmp)
        with waiting("the harness's wheels (pip wheel: this checkout and its dependencies)", 600):
            run([sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", str(wheels), str(REPO_ROOT)], capture=True,
                timeout=600)
        files = {f"/wheels/{w.name}": w for w in sorted(wheels.glob("*.whl"))}
        built = local_image("harness", base, files, "\n".join([
            "RUN python3 -m venv /opt/chaos-harness && /opt/chaos-harness/bin/pip install -q --no-index "
            f"--find-links /wheels chaos-harness && rm -rf /wheels && {SLIM_VENV} "
            "&& /opt/chaos-harness/bin/chaos-harness list >/dev/null",
            "ENV PATH=/opt/chaos-harness/bin:$PATH",
            "WORKDIR /tmp",
            'ENTRYPOINT ["chaos-harness"]',
        ]), timings)
    run(["docker", "tag", built, tag], capture=True)
    prune_superseded(tag)  # only the source-named tag stays
    return ComponentImage(local_ref=tag, node_ref=f"docker.io/{tag}")
