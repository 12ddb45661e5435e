"""The edge's ``node_id`` and ``subject`` (plain attributes) follow its data dir; an edge's log lines join
the sim's log in one splice (``RecordLog.extend_lines``) and read as ``extend`` would."""

from __future__ import annotations

from repro_lib.logfmt import LogRecord
from repro_lib.model.edge import Edge, _Persisted
from repro_lib.model.records import RecordLog
from repro_lib.timings import timings_from


def test_node_id_and_subject_follow_the_data_dir() -> None:
    edge = Edge("edge1", "n-0000aaaa", timings_from({}))
    assert (edge.node_id, edge.subject) == ("n-0000aaaa", "expanso.node.n-0000aaaa.in")
    edge.new_identity("n-0000bbbb")  # recreated without its volume
    assert (edge.node_id, edge.subject) == ("n-0000bbbb", "expanso.node.n-0000bbbb.in")
    assert edge.disk.node_id == "n-0000bbbb" and not edge.disk.executions
    edge.disk = _Persisted("n-0000cccc")  # the emulator's store read back from its file
    assert (edge.node_id, edge.subject) == ("n-0000cccc", "expanso.node.n-0000cccc.in")


def test_a_restarted_edge_heartbeats_and_reports_under_its_node_id() -> None:
    edge = Edge("edge1", "n-0000aaaa", timings_from({}))
    edge.new_identity("n-0000bbbb")
    edge.boot(0.0)
    assert edge.on_timer(1.0, ("heartbeat",)) == {"type": "Handshake", "node_id": "n-0000bbbb", "name": "edge1",
                                                  "labels": {}}
    edge.on_message(1.0, {"type": "RunExecutionRequest", "execution_id": "e-1", "job": "j"})
    assert edge.disk.executions["e-1"].job == "j"
    logs = edge.drain()[2]
    assert [dict(r.fields).get("node_id") for r in logs] == ["n-0000bbbb", "n-0000bbbb"]


def test_extend_lines_reads_as_extend() -> None:
    lines = [LogRecord(float(i), "edge1", "INFO", f"line {i}") for i in range(5)]
    a, b = RecordLog(lines[:1]), RecordLog(lines[:1])
    a.extend(lines[1:3])
    b.extend_lines(lines[1:3])
    a.extend(lines[3:])
    b.extend_lines(lines[3:])
    b.extend_lines([])
    assert len(b) == len(a) == 5
    assert list(b) == list(a) == lines
    assert b[3] == lines[3] and b[-1] == lines[-1]
