# expanso-edge:${EXPANSO_IMAGE_TAG:-debug} from the instrumented binary in ./bin (bin/expanso-edge).
# Built by ./build-debug.sh. The real edge runs pipelines through the Docker socket, so the debug
# compose file mounts /var/run/docker.sock and runs it privileged (docker/compose/edge.debug.yml).
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN if [ ! -f /etc/ssl/certs/ca-certificates.crt ]; then \
      apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*; \
    fi
COPY bin/expanso-edge /usr/local/bin/
RUN chmod 0755 /usr/local/bin/expanso-edge && mkdir -p /var/lib/expanso/edge /etc/expanso/edge
ENTRYPOINT ["expanso-edge"]
CMD ["run", "--config", "/etc/expanso/edge/config.yaml", "--log-level", "debug"]
