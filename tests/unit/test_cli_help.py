"""Each subcommand's --help shows the global options it uses, and only those; all of them are still accepted
before the subcommand."""

from __future__ import annotations

import pytest

from chaos_harness.frontends import cli_parser

CLUSTER = ("--kubeconfig", "--kube-context", "--allow-context")
NODES = ("--node-access", "--target-nodes", "--agent-image", "--agent-deadman-seconds")


def help_of(*words: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit):
        cli_parser.build_parser().parse_args([*words, "--help"])
    return capsys.readouterr().out


@pytest.mark.parametrize("words, shown, hidden", [
    (("list",), ("--scenarios",), (*CLUSTER, "--journal", *NODES)),
    (("check", "RUN"), ("--scenarios",), (*CLUSTER, "--journal", *NODES)),
    (("journal",), ("--journal",), (*CLUSTER, *NODES, "--scenarios")),
    (("cleanup",), (*CLUSTER, "--journal", *NODES), ("--scenarios",)),
    (("doctor",), (*CLUSTER, "--journal", *NODES), ("--scenarios",)),  # its agent is journaled
    (("schedule", "status"), CLUSTER, ("--journal", *NODES, "--scenarios")),
    (("run",), (*CLUSTER, "--journal", *NODES, "--scenarios"), ()),
])
def test_a_subcommand_shows_the_options_it_uses(words: tuple[str, ...], shown: tuple[str, ...],
                                                hidden: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    text = help_of(*words[:1] if words[0] == "check" else words, capsys=capsys)
    assert all(o in text for o in shown), [o for o in shown if o not in text]
    assert not [o for o in hidden if o in text]


def test_every_global_option_is_still_accepted_before_the_subcommand() -> None:
    args = cli_parser.build_parser().parse_args(["--kubeconfig", "k", "--journal", "j", "--node-access", "agent",
                                                 "--scenarios", "d", "list"])
    assert (str(args.kubeconfig), str(args.journal), args.node_access, [str(d) for d in args.scenarios]) == \
        ("k", "j", "agent", ["d"])
