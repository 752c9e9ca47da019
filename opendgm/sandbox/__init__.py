"""Isolated execution of untrusted, self-modified code: Docker when an engine answers, else local."""

from opendgm.sandbox.base import EngineFailure, ExecResult, Sandbox, SandboxError, tar_of_files
from opendgm.sandbox.docker_client import docker_available, docker_client
from opendgm.sandbox.factory import (
    BackendName,
    choose_backend,
    docker_housekeeping,
    folder_housekeeping,
    open_sandbox,
    reap_own,
)
from opendgm.sandbox.images import LABEL_CONTENT_HASH, LABEL_IMAGE, build_runtime_image, debian_mirror, image_label
from opendgm.sandbox.scratch import reachable_scratch, reap_folders
from opendgm.sandbox.spec import (
    DEFAULT_IMAGE,
    GATEWAY_SOCKET_ENV,
    GATEWAY_SOCKET_PATH,
    GATEWAY_TOKEN_ENV,
    Limits,
    Mount,
    SandboxSpec,
)

__all__ = [
    "DEFAULT_IMAGE",
    "GATEWAY_SOCKET_ENV",
    "GATEWAY_SOCKET_PATH",
    "GATEWAY_TOKEN_ENV",
    "LABEL_CONTENT_HASH",
    "LABEL_IMAGE",
    "BackendName",
    "EngineFailure",
    "ExecResult",
    "Limits",
    "Mount",
    "Sandbox",
    "SandboxError",
    "SandboxSpec",
    "build_runtime_image",
    "choose_backend",
    "debian_mirror",
    "docker_available",
    "docker_client",
    "docker_housekeeping",
    "folder_housekeeping",
    "image_label",
    "open_sandbox",
    "reachable_scratch",
    "reap_folders",
    "reap_own",
    "tar_of_files",
]
