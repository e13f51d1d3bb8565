import pytest

from chaos_harness.core.timing import parse_duration

from chaos_harness.core.control_plane import flags_of


@pytest.mark.parametrize("text,seconds", [("40s", 40), ("1m30s", 90), ("500ms", 0.5), ("2h", 7200), ("16s", 16)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "40", "s", "4 0s", "1x"])
def test_parse_duration_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_flags_of_reads_only_key_value_flags() -> None:
    command = ["kube-controller-manager", "--node-monitor-grace-period=16s", "--leader-elect", "--x=a=b"]
    assert flags_of(command) == {"node-monitor-grace-period": "16s", "x": "a=b"}
