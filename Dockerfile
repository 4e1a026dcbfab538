# The gateway as a container. It needs a Redis it can reach (CLAIMGATE_REDIS_URL) and,
# because it listens on all interfaces, mutual TLS: mount a directory holding
# server.pem/server.key, the institutions' CA (ca.pem) and an ops client certificate
# for the health check at /etc/claimgate/tls (`claimgate dev-certs` makes all of them).
# /metrics is unauthenticated, so it listens on the container's loopback only; set
# CLAIMGATE_METRICS_ADDR=0.0.0.0 to expose it to a scraper on a private network.
# The README shows it paired with the official redis image.
FROM python:3.11-slim

RUN useradd --system --create-home --uid 10001 claimgate \
 && mkdir -p /var/cache/claimgate/numba && chown -R claimgate /var/cache/claimgate

WORKDIR /app
COPY pyproject.toml README.md ./
COPY proto ./proto
COPY rules_compiled ./rules_compiled
COPY gateway ./gateway
COPY bench ./bench
RUN pip install --no-cache-dir .

ENV CLAIMGATE_LISTEN=0.0.0.0:50051 \
    CLAIMGATE_REDIS_URL=redis://redis:6379/0 \
    CLAIMGATE_TLS_CERT=/etc/claimgate/tls/server.pem \
    CLAIMGATE_TLS_KEY=/etc/claimgate/tls/server.key \
    CLAIMGATE_TLS_CLIENT_CA=/etc/claimgate/tls/ca.pem \
    CLAIMGATE_HEALTH_CA=/etc/claimgate/tls/ca.pem \
    CLAIMGATE_HEALTH_CERT=/etc/claimgate/tls/clients/ops.pem \
    CLAIMGATE_HEALTH_KEY=/etc/claimgate/tls/clients/ops.key \
    CLAIMGATE_METRICS_PORT=9464 \
    CLAIMGATE_METRICS_ADDR=127.0.0.1 \
    NUMBA_CACHE_DIR=/var/cache/claimgate/numba \
    PYTHONUNBUFFERED=1

USER claimgate
EXPOSE 50051 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["python", "-m", "gateway.healthcheck", "127.0.0.1:50051"]
CMD ["claimgate", "serve"]
