# egressguard: the admission webhook image.
#   docker build --build-arg REVISION="$(git rev-parse HEAD)" -t egressguard:dev .
# Stage one builds the wheel (the same artefact the package index gets, carrying the
# example rules) and installs it into a virtualenv; every dependency ships manylinux
# wheels, so no compiler is needed. Stage two copies only that virtualenv: no RUN, no
# package manager, nothing that needs a shell; it runs as an unprivileged user and works
# with a read-only root filesystem. Pin the base by digest in your registry mirror if your
# policy requires it.
FROM python:3.11.14-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m pip install build==1.6.1
COPY pyproject.toml setup.py MANIFEST.in README.md CHANGELOG.md ./
COPY webhook ./webhook
COPY rules ./rules
RUN python -m build --wheel --outdir /dist . \
 && python -m venv /opt/egressguard \
 && /opt/egressguard/bin/pip install /dist/egressguard-*.whl \
 && /opt/egressguard/bin/pip uninstall --yes pip setuptools \
 && mkdir -p /empty

FROM python:3.11.14-slim-bookworm
# Set by the release workflow; VERSION is pyproject.toml's (make version keeps it in step).
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="egressguard" \
      org.opencontainers.image.description="Admission webhook that makes egress gateways trustworthy" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="https://github.com/egressguard/egressguard" \
      org.opencontainers.image.url="https://github.com/egressguard/egressguard" \
      org.opencontainers.image.documentation="https://github.com/egressguard/egressguard#readme" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11.14-slim-bookworm"
ENV PATH=/opt/egressguard/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/egressguard /opt/egressguard
# `docker run` with no arguments serves the example rules the wheel carries and writes a
# self-signed certificate to /app/certs (with --read-only, mount a tmpfs there).
COPY --from=build --chown=10001:10001 /empty /app/certs
WORKDIR /app
USER 10001:10001
EXPOSE 8443
ENTRYPOINT ["egressguard"]
CMD ["serve"]
