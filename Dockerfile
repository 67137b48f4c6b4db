# egressguard: the admission webhook image. Build: docker build -t egressguard:0.1.0 .
# Two stages: the first installs egressguard into a virtualenv (every dependency ships
# manylinux wheels, so no compiler is needed even there); the second copies the virtualenv
# into a clean base and runs as an unprivileged user. Pin the base by digest in your
# registry mirror if your policy requires it.
FROM python:3.11.14-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/egressguard
COPY pyproject.toml README.md ./
COPY webhook ./webhook
RUN /opt/egressguard/bin/pip install . \
 && /opt/egressguard/bin/pip uninstall --yes pip setuptools

FROM python:3.11.14-slim-bookworm
LABEL org.opencontainers.image.title="egressguard" \
      org.opencontainers.image.description="Admission webhook that makes egress gateways trustworthy" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/egressguard/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    EGRESSGUARD_RULES=/app/rules
RUN groupadd --system --gid 10001 egressguard \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin egressguard
COPY --from=build /opt/egressguard /opt/egressguard
# The example rules, served when no other rules are given (deploy/'s base).
COPY rules /app/rules
# `docker run` with no arguments writes a self-signed certificate to ./certs.
RUN install --directory --owner 10001 --group 10001 /app/certs
WORKDIR /app
USER 10001:10001
EXPOSE 8443
ENTRYPOINT ["egressguard"]
CMD ["serve"]
