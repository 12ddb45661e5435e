"""Real public Bacalhau logs of a node losing (and regaining) its orchestrator, through `investigate`.

A search of the stored public corpora (GitHub issues/PRs of bacalhau-project/bacalhau, the docs repo,
docs.bacalhau.org / docs.expanso.io pages, code) found NO pasted log with timestamps that shows a compute
node being marked disconnected and coming back, nor an orchestrator restart followed by re-handshakes
(no "Marking node as disconnected", "Connection unhealthy, initiating reconnect", "Node shutdown notice
received", or a second "handshake successful with node" for the same node). So no new fixture was added.

The closest real evidence already in ``tests/fixtures/real/`` is issue 4114's compute-node log: the
reporter killed the requester (step 4 of https://github.com/bacalhau-project/bacalhau/issues/4114) and
the compute node ``n-a98459de`` logged its management requests to the requester timing out
(``nats: timeout``) at 09:32:10.54 (two lines) and 09:32:40.54. Hand-checked facts of that text:

* every line names the node: ``[NodeID:n-a98459de]`` and the subject ``node.management.n-a98459de-…``;
* the node's own process kept logging (so it was not killed), the orchestrator's side is absent;
* no line says when the requester went down or came back (the issue says it was restarted later,
  but that is prose, not log).

The kit used to read the lines (node, times) but `investigate` raised "nothing could be reconstructed:
no node, job or fault is named in the evidence" — untrue for this text. It now reads a log whose every
line names one node as that node's own log, places no fault, and lists the timeouts as what it cannot place.
"""

from __future__ import annotations

from pathlib import Path

from repro_lib.incident import investigate
from repro_lib.inspect import inspect_paths

REAL = Path(__file__).parent / "fixtures" / "real"
F4114 = REAL / "bacalhau-issue-4114-compute-nats-timeout-1.4.log"
NODE = "n-a98459de"


def test_4114_lines_are_read_with_node_and_times() -> None:
    ev = inspect_paths([str(F4114)]).events
    assert len(ev) == 3
    assert list(ev["node"]) == [NODE] * 3
    assert list(ev["t_s"]) == [0.0, 0.0, 30.0]  # 09:32:10.54, 09:32:10.54, 09:32:40.54
    assert list(ev["level"]) == ["WARN"] * 3
    # a timeout towards the requester is not a connection state of the node: nothing says "disconnected"
    assert not (ev["state"].astype(str).str.contains("disconnected|lost")).any()


def test_4114_is_read_as_the_nodes_own_log_not_refused() -> None:
    """It was refused ("no node, job or fault is named") although every line names the node."""
    notes = " ".join(investigate([F4114]).reconstruction.notes)
    assert f"every parsed line names node {NODE}" in notes


def test_4114_names_the_edge_and_invents_no_fault() -> None:
    inc = investigate([F4114])
    assert inc.reconstruction.edges == [NODE]
    steps = inc.schedule()
    assert list(steps["step"])[:1] == ["up"]
    # the compute process kept logging and no orchestrator line is given: no kill/partition/restart
    assert not steps["step"].str.contains("kill|partition|restart|start").any()


def test_4114_says_what_it_cannot_place() -> None:
    inc = investigate([F4114])
    unplaced = " ".join(inc.reconstruction.unplaced)
    assert NODE in unplaced
    assert "timeout" in unplaced
