# CryptoMonitor image: a slim Python runtime, pinned dependencies, running as a non-root user.
# Build: docker build -t cryptomonitor .    Run: see docker-compose.yml and the README.
#
# PYTHON_IMAGE names the base: the official python image by default. Where no registry is
# reachable, any Debian-based image with python (3.11+) and its venv module will do; the test
# suite builds one from Debian's packages (tests/docker/images).
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# With a wheelhouse made for this requirements.lock (.wheelhouse/, which tests/docker/images
# fills and stamps), pip installs from it alone and never reaches an index; otherwise, or when
# the lock has changed since, from the index as usual.
COPY requirements.lock .wheelhous[e] /src/wheels/
RUN if cmp -s /src/wheels/requirements.lock /src/wheels/.requirements.lock; then \
      printf '[global]\nno-index = true\nfind-links = /src/wheels\n' > /etc/pip.conf; fi \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --require-virtualenv -r /src/wheels/requirements.lock
COPY pyproject.toml README.md ./
COPY cryptomonitor ./cryptomonitor
COPY sql ./sql
RUN /opt/venv/bin/pip install --require-virtualenv --no-deps . \
 && /opt/venv/bin/cryptomonitor --version

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="cryptomonitor" \
      org.opencontainers.image.source="https://github.com/cryptomonitor/cryptomonitor"
RUN groupadd --system --gid 10001 cryptomonitor \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin cryptomonitor \
 && mkdir -p /app/alerts /app/spool \
 && chown 10001:10001 /app/alerts \
 && chmod 1777 /app/spool
COPY --from=build /opt/venv /opt/venv
COPY rules.example.toml /app/rules.example.toml
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CRYPTOMONITOR_ALERTS_FILE=/app/alerts/alerts.txt \
    CRYPTOMONITOR_SPOOL_DIR=/app/spool
WORKDIR /app
USER 10001:10001
# Exec form: the Python process is PID 1's only child of note and receives SIGTERM directly.
ENTRYPOINT ["cryptomonitor"]
CMD ["run"]
