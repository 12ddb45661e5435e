"""Dispatch counts as ``repro run --json`` reports them (explained in docs/cli.md, "Commands").

- ``dispatch_attempts``: the watcher's *first* attempts at a run or cancel message — a
  RetryStrategyBlock retry logs "Attempting" again; those are ``dispatch_retries``;
- ``dispatch_refused``: one per refused publish, although each refusal may log two lines (the
  connection check and "Node not connected"): per node, the larger of the two line counts;
- ``dispatch_skipped``: events RetryStrategySkip dropped;
- ``dispatch_lost``: run requests NATS dropped (the sim logs each drop); for live runs, where NATS
  logs none, run requests published that the edge log of their node never shows as received —
  counted only for nodes whose edge log was read;
- ``redispatches``: the fixes' re-sends; ``node_join_evals``: evaluations created by node-join;
- fix C (``sequence-replay``): ``dispatch_failed``, requests its plane saw fail (NATS's 503 or no ack
  in time: detected, unlike a publish into the void); ``replays``, sends of an event already sent
  (after a failure the plane re-sends everything since the handshake).
"""

from __future__ import annotations

import pandas as pd

from repro_lib.analysis.delivery import edge_nodes
from repro_lib.analysis.timeline import bus_rows

__all__ = ["event_counts"]


def event_counts(events: pd.DataFrame) -> dict[str, int]:
    ev = events
    kind, state = ev["kind"], ev["state"]
    detail = ev["detail"].fillna("")
    disp = ev.loc[kind == "dispatch", ["execution", "state"]]
    prev = disp.groupby("execution", sort=False)["state"].shift()
    attempt = disp["state"] == "attempt"
    retried = attempt & (prev == "retry")
    seq = detail[kind == "dispatch"].str.extract(r"(?:^| )seq=(\d+)", expand=False)
    planed = attempt & seq.notna()
    replayed = planed & pd.DataFrame({"e": disp["execution"], "s": seq}).duplicated()
    refused = ev.loc[(kind == "publish") & (state == "refused"), ["node"]].assign(
        check=detail[(kind == "publish") & (state == "refused")].str.contains("connection_exists=", regex=False))
    per_node = refused.groupby([refused["node"].fillna(""), "check"]).size().unstack(fill_value=0)
    n_refused = int(per_node.max(axis=1).sum()) if len(per_node) else 0
    nats = bus_rows(ev)
    if nats.any():  # the sim logs what NATS dropped
        lost = int((nats & state.isin(["lost", "dropped"]) & detail.str.contains("type=RunExecutionRequest",
                                                                                  regex=False)).sum())
    else:
        seen = set(edge_nodes(ev)["node"]) if len(ev) else set()
        pub = ev.loc[(kind == "publish") & (state == "published") & ev["node"].isin(seen), "execution"].dropna()
        got = set(ev.loc[(kind == "deliver") & (state == "delivered") & ~nats, "execution"])
        lost = int(len(set(pub) - got))
    return {
        "dispatch_attempts": int((attempt & ~retried & ~replayed).sum()),
        "dispatch_retries": int(retried.sum()),
        "dispatch_lost": lost,
        "dispatch_refused": n_refused,
        "dispatch_skipped": int(((kind == "dispatch") & (state == "skipped")).sum()),
        "node_join_evals": int(((kind == "eval") & (state == "created")
                                & detail.str.contains("trigger=node-join", regex=False)).sum()),
        "redispatches": int(((kind == "dispatch") & (state == "redispatch")).sum()),
        "dispatch_failed": int(((kind == "publish") & (state == "failed")).sum()),
        "replays": int(replayed.sum()),
    }


