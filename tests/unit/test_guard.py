import pytest
from kubernetes.client.exceptions import ApiException

from chaos_harness.core.errors import ClusterError, Conflict, Forbidden, Gone, GuardError, NotFound, TransientClusterError

from chaos_harness.core.api_errors import from_api_exception
from chaos_harness.core.kube import check_context_allowed, connect

from kubeconfigs import KUBECONFIG


def test_kind_contexts_are_allowed_by_default() -> None:
    check_context_allowed("kind-chaos", ("kind-*",))


def test_other_contexts_are_refused_with_the_fix_named() -> None:
    with pytest.raises(GuardError, match=r"refusing kube context 'prod-eu'.*--allow-context prod-eu"):
        check_context_allowed("prod-eu", ("kind-*",))


def test_bad_kubeconfig_is_a_cluster_error_naming_the_fix(tmp_path) -> None:
    broken = tmp_path / "kubeconfig"
    broken.write_text("this: [is not a kubeconfig")
    with pytest.raises(ClusterError, match="cannot read kubeconfig"):
        connect(broken, "kind-chaos")


def test_missing_kubeconfig_is_a_cluster_error(tmp_path) -> None:
    with pytest.raises(ClusterError):
        connect(tmp_path / "absent", "kind-chaos")




def test_context_outside_allowlist_is_refused_before_any_request(tmp_path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG.format(server="https://127.0.0.1:6443", context="gke-prod"))
    with pytest.raises(GuardError, match="gke-prod"):
        connect(path)


def test_any_api_server_is_fine_once_its_context_is_allowed(tmp_path) -> None:
    """Loopback is a rule of this project's test bed, not of users' clusters: no request is made here, the
    client just points at the server the kubeconfig names (through its proxy-url when it has one)."""
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG.format(server="https://10.1.2.3:6443", context="staging"))
    cluster = connect(path, allowed=("kind-*", "staging"))
    assert cluster.context == "staging" and cluster.api.configuration.host == "https://10.1.2.3:6443"


def test_proxy_url_of_the_kubeconfig_is_used(tmp_path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG.format(server="https://10.1.2.3:6443", context="staging").replace(
        "cluster: {server:", 'cluster: {proxy-url: "http://127.0.0.1:3128", server:'))
    cluster = connect(path, allowed=("staging",))
    assert cluster.api.configuration.proxy == "http://127.0.0.1:3128"
    assert cluster.streaming_core().api_client.configuration.proxy == "http://127.0.0.1:3128"


def test_allowing_every_context_warns(tmp_path, capsys) -> None:
    check_context_allowed("prod-eu", ("kind-*", "*"))
    assert "--allow-context '*' allows every kube context" in capsys.readouterr().err


@pytest.mark.parametrize("status,kind", [(404, NotFound), (409, Conflict), (410, Gone), (500, TransientClusterError),
                                         (429, TransientClusterError), (403, Forbidden), (422, ClusterError)])
def test_api_errors_map_by_status(status: int, kind: type) -> None:
    mapped = from_api_exception(ApiException(status=status, reason="x"), "doing y")
    assert type(mapped) is kind
    assert "doing y" in str(mapped)


@pytest.mark.parametrize("channel,code", [
    ('{"metadata":{},"status":"Success"}', 0),
    ('{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}', 3),
    ('{"status":"Failure","message":"exec: \\"nope\\": executable file not found"}', 126),
    ("", 126),
])
def test_exec_exit_status_comes_from_the_error_channel(channel: str, code: int) -> None:
    from chaos_harness.core.kube import exit_status

    assert exit_status(channel) == code


def test_api_errors_carry_the_api_servers_own_message() -> None:
    e = ApiException(status=422, reason="Unprocessable Entity")
    e.body = '{"kind":"Status","message":"DaemonSet.apps \\"x\\" is invalid: spec.template: Required value"}'
    assert "is invalid: spec.template: Required value" in str(from_api_exception(e, "creating x"))


def test_client_errors_are_translated_in_one_place() -> None:
    """Only chaos_harness/core/api_errors.py knows the client's exceptions; everything else catches ours by type."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    offenders = [f"{p.relative_to(root)}:{n}" for p in (root / "chaos_harness").rglob("*.py")
                 if p.name != "api_errors.py"
                 for n, line in enumerate(p.read_text().splitlines(), 1)
                 if re.search(r"except .*ApiException|\.status [!=]= \d{3}", line.split("#")[0])]
    assert offenders == []


def test_api_errors_maps_statuses_to_types() -> None:
    from kubernetes.client.exceptions import ApiException

    from chaos_harness.core.errors import Conflict, Gone, NotFound, TransientClusterError

    from chaos_harness.core.api_errors import api_errors

    for status, kind in ((404, NotFound), (409, Conflict), (410, Gone), (503, TransientClusterError)):
        with pytest.raises(kind, match=f"reading x: {status}"):
            with api_errors("reading x"):
                raise ApiException(status=status, reason="r")
    with pytest.raises(TransientClusterError, match="reading x"):
        with api_errors("reading x"):
            raise ConnectionResetError(104, "reset")


def test_the_fingerprint_is_read_once_per_cluster(monkeypatch) -> None:
    """Every run, scenario and fault session asks for it; on a thousand-node cluster each reading lists every node."""
    from chaos_harness.core.kube import Cluster, Fingerprint

    readings = []

    def read(self: Cluster) -> Fingerprint:
        readings.append(self.context)
        return Fingerprint(self.context, "uid-1", ("a",), "v1.34.0")

    monkeypatch.setattr(Cluster, "_read_fingerprint", read)
    one, other = Cluster("kind-a", None, None), Cluster("kind-b", None, None)  # type: ignore[arg-type]
    assert one.fingerprint() is one.fingerprint() and other.fingerprint().context == "kind-b"
    assert readings == ["kind-a", "kind-b"]


def test_a_kind_named_context_is_the_test_bed_only_when_its_server_is_on_this_machine(tmp_path) -> None:
    """`kind-prod` pointing at a production API server is not the local test bed: refused in one line before any
    connection, unless allowed by name; kind's own (server on 127.0.0.1) is allowed by the default pattern."""
    import pytest
    import yaml

    from chaos_harness.core.errors import GuardError
    from chaos_harness.core.kube import connect

    def kubeconfig(context: str, server: str):  # type: ignore[no-untyped-def]
        path = tmp_path / f"{context}.yaml"
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": context,
            "clusters": [{"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": context, "context": {"cluster": "c", "user": "u"}}]}))
        return path

    prod = kubeconfig("kind-prod", "https://203.0.113.10:6443")
    with pytest.raises(GuardError, match="named like a kind test bed, but its server https://203.0.113.10:6443 is "
                                         "not on this machine; .*--allow-context kind-prod"):
        connect(prod, allowed=("kind-*",))
    assert connect(prod, allowed=("kind-*", "kind-prod")).context == "kind-prod"  # named: the user's cluster
    assert connect(kubeconfig("kind-chaos", "https://127.0.0.1:6443"), allowed=("kind-*",)).context == "kind-chaos"
