# opendgm sandbox runtime image: what every agent run and grading step executes in.
#
# Built by `opendgm sandbox build`. With no registry reachable (the default), the base is a Debian
# bookworm minbase made by debootstrap from the Debian mirror and `docker import`ed as
# opendgm-base:bookworm; with `--pull`, the base is pulled from a registry as usual. No network is needed
# at run time: the seed agent is stdlib-only and reaches models only through the gateway socket.
ARG BASE_IMAGE=opendgm-base:bookworm
FROM ${BASE_IMAGE}

# The offline base already has these; a pulled slim base gets them from Debian.
RUN if ! command -v python3 >/dev/null || ! command -v git >/dev/null || ! command -v ps >/dev/null; then \
        apt-get update && apt-get install -y --no-install-recommends python3 git procps ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    fi

# Commands run as this unprivileged user; /workspace is replaced by a size-capped volume at run time.
RUN groupadd --gid 1000 agent \
    && useradd --uid 1000 --gid 1000 --home-dir /workspace --no-create-home --shell /bin/bash agent \
    && mkdir -p /workspace /run/opendgm && chown agent:agent /workspace \
    && git config --system user.name "opendgm agent" \
    && git config --system user.email "agent@opendgm.invalid" \
    && git config --system --add safe.directory '*' \
    && git config --system init.defaultBranch main

ENV LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /workspace
CMD ["sleep", "infinity"]
