# expanso-orchestrator:${EXPANSO_IMAGE_TAG:-debug} from the instrumented binaries in ./bin
# (bin/expanso-orchestrator, bin/expanso-cli). Built by ./build-debug.sh, which checks the
# binaries first. BASE_IMAGE=reprolab-base:bookworm builds it where no registry can be reached.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN if [ ! -f /etc/ssl/certs/ca-certificates.crt ]; then \
      apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*; \
    fi
COPY bin/expanso-orchestrator bin/expanso-cli /usr/local/bin/
RUN chmod 0755 /usr/local/bin/expanso-orchestrator /usr/local/bin/expanso-cli \
 && mkdir -p /var/lib/expanso/orchestrator /etc/expanso/orchestrator
EXPOSE 9010
ENTRYPOINT ["expanso-orchestrator"]
CMD ["run", "--config", "/etc/expanso/orchestrator/config.yaml", "--log-level", "debug"]
