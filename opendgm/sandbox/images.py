"""Building the sandbox runtime image, online or fully offline, and only when its content changed.

Offline (the default: no registry needs to answer), the base image is a Debian bookworm minbase made by
`debootstrap` from the configured Debian mirror and imported with `docker import`. The runtime image is
then built from the top-level Dockerfile on that base with no network. Each image carries a hash of
what it was built from, so an unchanged Dockerfile does not rebuild.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from docker.errors import APIError, BuildError, DockerException, ImageNotFound

from opendgm.sandbox.base import EngineFailure
from opendgm.sandbox.docker_client import TRANSPORT_ERRORS, docker_client
from opendgm.sandbox.owner import LABEL_PREFIX
from opendgm.sandbox.spec import DEFAULT_IMAGE

OFFLINE_BASE_IMAGE = "opendgm-base:bookworm"
PULLED_BASE_IMAGE = "debian:bookworm-slim"
BASE_PACKAGES = ("python3", "git", "procps", "ca-certificates")
LABEL_CONTENT_HASH = f"{LABEL_PREFIX}.content-hash"
# Marks images as opendgm's. Not the sandbox ownership label: containers inherit their image's labels,
# and a container someone else starts from our image is not ours to reap.
LABEL_IMAGE = f"{LABEL_PREFIX}.image"

Say = Callable[[str], None]


@dataclass(frozen=True)
class BuildOutcome:
    """What `build_runtime_image` did."""

    image: str
    base: str
    rebuilt: bool
    content_hash: str


def runtime_dockerfile() -> Path:
    """The runtime Dockerfile shipped with the package (the repository's top-level Dockerfile)."""
    return Path(str(resources.files("opendgm.sandbox") / "runtime" / "Dockerfile")).resolve()


def debian_mirror() -> str:
    """The Debian mirror apt is configured with (debootstrap must use a mirror this machine reaches)."""
    for source in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        try:
            text = source.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            words = line.split()
            if words[:1] == ["deb"] and len(words) > 1:
                return words[2] if words[1].startswith("[") else words[1]
            if words[:1] == ["URIs:"] and len(words) > 1 and "security" not in words[1]:
                return words[1]
    return "http://deb.debian.org/debian"


def image_label(name: str, label: str) -> str | None:
    try:
        image = docker_client().images.get(name)
    except ImageNotFound:
        return None
    return (image.labels or {}).get(label)


def ensure_offline_base(
    say: Say = print, image: str = OFFLINE_BASE_IMAGE, packages: tuple[str, ...] = BASE_PACKAGES
) -> str:
    """Create `image` (bookworm minbase + `packages`) with debootstrap + docker import unless it exists.

    Toolchain images (one per Polyglot language, say) reuse this with their own name and package list.
    """
    client = docker_client()
    try:
        client.images.get(image)
        return image
    except ImageNotFound:
        pass
    if shutil.which("debootstrap") is None:
        raise EngineFailure("building the offline base image needs debootstrap: apt-get install -y debootstrap")
    if os.geteuid() != 0:
        raise EngineFailure("debootstrap needs root to build the offline base image; rerun as root")
    mirror = debian_mirror()
    with tempfile.TemporaryDirectory(prefix="opendgm-rootfs-") as workdir:
        rootfs, archive = Path(workdir) / "rootfs", Path(workdir) / "rootfs.tar"
        say(f"debootstrap bookworm (minbase + {', '.join(packages)}) from {mirror} ...")
        command = [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(packages)}",
            "bookworm",
            str(rootfs),
            mirror,
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
            raise EngineFailure(f"debootstrap failed (exit {done.returncode}):\n{tail}")
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(archive), "."], check=True)
        say(f"docker import -> {image}")
        repository, tag = image.rsplit(":", 1)
        client.api.import_image_from_file(
            str(archive), repository=repository, tag=tag, changes=[f'LABEL {LABEL_IMAGE}="1"']
        )
    return image


def build_runtime_image(
    tag: str = DEFAULT_IMAGE, pull: bool = False, force: bool = False, say: Say = print, base: str | None = None
) -> BuildOutcome:
    """Build the runtime image from the Dockerfile unless an image built from the same content exists.

    `base` names an existing image to build on instead of the pulled or the offline Debian base. An image
    that cannot be had, for whatever reason, is an EngineFailure: never the fault of code to be sandboxed.
    """
    try:
        return _build_runtime_image(tag, pull, force, say, base)
    except (DockerException, *TRANSPORT_ERRORS) as exc:
        raise EngineFailure(f"could not make the sandbox image {tag}: {type(exc).__name__}: {exc}"[:500]) from exc


def _build_runtime_image(tag: str, pull: bool, force: bool, say: Say, base: str | None) -> BuildOutcome:
    client = docker_client()
    dockerfile = runtime_dockerfile()
    if base is None and pull:
        say(f"pulling {PULLED_BASE_IMAGE}")
        try:
            client.images.pull(PULLED_BASE_IMAGE)
        except APIError as exc:
            raise EngineFailure(
                f"could not pull {PULLED_BASE_IMAGE} (rerun without --pull to build offline): {exc}"
            ) from exc
        base = PULLED_BASE_IMAGE
    elif base is None:
        base = ensure_offline_base(say)
    base_id: str = client.images.get(base).attrs["Id"]  # `Image.id`, which the stubs type as optional
    content_hash = hashlib.sha256(dockerfile.read_bytes() + base_id.encode()).hexdigest()[:16]
    if not force and image_label(tag, LABEL_CONTENT_HASH) == content_hash:
        say(f"{tag} is up to date (content {content_hash})")
        return BuildOutcome(tag, base, False, content_hash)
    say(f"building {tag} on {base}")
    with tempfile.TemporaryDirectory(prefix="opendgm-build-") as context:
        shutil.copy(dockerfile, Path(context) / "Dockerfile")
        try:
            client.images.build(
                path=context,
                tag=tag,
                buildargs={"BASE_IMAGE": base},
                labels={LABEL_IMAGE: "1", LABEL_CONTENT_HASH: content_hash},
                network_mode=None if pull else "none",
                rm=True,
                forcerm=True,
            )
        except BuildError as exc:
            log_tail = "".join(str(entry.get("stream", "")) for entry in exc.build_log)[-2000:]
            raise EngineFailure(f"building {tag} failed: {exc.msg}\n{log_tail}") from exc
    return BuildOutcome(tag, base, True, content_hash)
