"""What a sandbox is allowed to do: image, limits, environment, mounts.

The limits live in the spec (not in call sites) so that every backend enforces the same contract and a
campaign config can state them once.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Fixed path at which a sandbox sees the model gateway socket (the only way out of a sandbox).
GATEWAY_SOCKET_PATH = "/run/opendgm/gateway.sock"
# Environment variable that tells code inside the sandbox where the gateway socket is.
GATEWAY_SOCKET_ENV = "OPENDGM_GATEWAY_SOCKET"
# Environment variable that carries the sandbox's own gateway token (not an API key: it only
# identifies the sandbox to the gateway, which meters and attributes its calls).
GATEWAY_TOKEN_ENV = "OPENDGM_GATEWAY_TOKEN"

DEFAULT_IMAGE = "opendgm-runtime:latest"
# The unprivileged user every sandboxed command runs as (the runtime image names it `agent`).
# Names that look like credentials. They never enter a sandbox (invariant 1: no secret in a sandbox): models are reached
# through the gateway, which holds the keys on the host.
SECRET_LIKE_NAME = re.compile(r".*_(KEY|TOKEN|SECRET|PASSWORD)$|^(AWS|AZURE|GOOGLE)_.*CREDENTIALS?.*$", re.I)
SANDBOX_UID = 1000
SANDBOX_GID = 1000


class Limits(BaseModel):
    """Resource caps. Every backend enforces what it can and reports what it cannot."""

    model_config = ConfigDict(extra="forbid")

    memory_mb: int = Field(2048, gt=0, description="Memory cap (RAM; no swap beyond it).")
    cpus: float = Field(1.0, gt=0, description="CPU share (Docker) / CPU-seconds scale (local).")
    pids: int = Field(256, gt=0, description="Maximum number of processes/threads.")
    wall_time_s: float = Field(
        4 * 3600, gt=0, description="Lifetime cap: the sandbox dies after this even if its owner crashed."
    )
    exec_timeout_s: float = Field(600, gt=0, description="Default timeout of one exec.")
    output_bytes: int = Field(1_000_000, gt=0, description="Bytes kept per stream (stdout, stderr) per exec.")
    disk_mb: int | None = Field(
        2048,
        gt=0,
        description="Workspace cap (Docker: the volume's size; local: a tmpfs of this size as root, else per file).",
    )


class Mount(BaseModel):
    """A host path made visible inside the sandbox."""

    model_config = ConfigDict(extra="forbid")

    host_path: Path
    sandbox_path: str
    read_only: bool = True


class SandboxSpec(BaseModel):
    """Everything needed to start one sandbox."""

    model_config = ConfigDict(extra="forbid")

    image: str = DEFAULT_IMAGE
    workdir: str = "/workspace"
    limits: Limits = Field(default_factory=Limits)
    env: dict[str, str] = Field(default_factory=dict)
    mounts: list[Mount] = Field(default_factory=list)
    gateway_socket: Path | None = Field(
        None, description=f"Host unix socket of the model gateway, mounted at {GATEWAY_SOCKET_PATH}."
    )
    gateway_token: str | None = None
    campaign: str = Field("adhoc", description="Owner label: which campaign this sandbox belongs to.")
    read_only_rootfs: bool = Field(
        True,
        description="Docker: the image filesystem is read-only; only the workspace and /tmp are writable.",
    )
    workspace_volume: bool = Field(
        True,
        description=(
            "Docker: the workspace is a tmpfs volume, which the engine's archive calls can read. False: a plain "
            "tmpfs mount, about 200 ms quicker to set up and tear down per container, read through an exec "
            "(for short-lived sandboxes that read little: grading)."
        ),
    )

    @field_validator("env")
    @classmethod
    def _no_secrets(cls, env: dict[str, str]) -> dict[str, str]:
        secret_like = sorted(name for name in env if SECRET_LIKE_NAME.match(name))
        if secret_like:
            raise ValueError(
                f"refusing to pass secret-looking variables into a sandbox: {', '.join(secret_like)}. "
                "Sandboxed code reaches models only through the gateway, which keeps API keys on the host."
            )
        return env

    def sandbox_env(self) -> dict[str, str]:
        """The complete environment a sandboxed process sees (nothing inherited from the host)."""
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": self.workdir,
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            # git works the same in every image and on every host, configured or not
            "GIT_AUTHOR_NAME": "opendgm agent",
            "GIT_AUTHOR_EMAIL": "agent@opendgm.invalid",
            "GIT_COMMITTER_NAME": "opendgm agent",
            "GIT_COMMITTER_EMAIL": "agent@opendgm.invalid",
        }
        if self.gateway_socket is not None:
            env[GATEWAY_SOCKET_ENV] = GATEWAY_SOCKET_PATH
        if self.gateway_token is not None:
            env[GATEWAY_TOKEN_ENV] = self.gateway_token
        env.update(self.env)
        return env
