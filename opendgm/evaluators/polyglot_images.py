"""Polyglot toolchain images: one layer per language on the shared runtime image, built without a registry.

The host fetches what the layer needs, then a container with no network installs it and is committed:
- Debian packages: `debootstrap --download-only` resolves the language's packages and their dependencies
  from the configured Debian mirror (the same route as the offline base image), into a cache kept
  between builds; the container installs the ones its base lacks with `apt-get --no-download`.
- JavaScript's jest tree: `npm ci` on the host from the lockfile shipped with opendgm (pinned versions).
Every language image shares the runtime image's layers (Python's is the runtime image itself). An image
carries a hash of what it was built from (base image id, packages, setup, lockfile) and is rebuilt only
when that changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from opendgm.evaluators.polyglot_languages import Language
from opendgm.sandbox.base import SandboxError
from opendgm.sandbox.docker_client import docker_client
from opendgm.sandbox.images import LABEL_CONTENT_HASH, LABEL_IMAGE, _image_label, build_runtime_image, debian_mirror

Say = Callable[[str], None]
DEBS = "/opt/opendgm-debs"
EXTRAS = "/opt/opendgm-extras"
# Installs the downloaded packages the base does not already have at the same version (the container has
# no network: apt can only use the files given).
INSTALL = f"""\
set -e
cd {DEBS}
install=""
for deb in *.deb; do
  name=$(dpkg-deb -f "$deb" Package); version=$(dpkg-deb -f "$deb" Version)
  [ "$(dpkg-query -W -f '${{Version}}' "$name" 2>/dev/null || true)" = "$version" ] || install="$install {DEBS}/$deb"
done
export DEBIAN_FRONTEND=noninteractive
[ -z "$install" ] || apt-get install -y -q --no-install-recommends $install
rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
"""


def toolchains_dir() -> Path:
    """Package data that language layers copy in (JavaScript's package.json and lockfile)."""
    return Path(str(resources.files("opendgm.evaluators") / "data" / "polyglot_toolchains"))


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "opendgm" / "polyglot"


def content_hash(language: Language, base_id: str) -> str:
    """What the image is built from: the base image, the packages, the setup, the shipped extras."""
    digest = hashlib.sha256()
    for part in (base_id, language.name, *language.packages, language.setup, language.smoke, INSTALL):
        digest.update(part.encode() + b"\0")
    for extra in language.extras:
        for path in sorted((toolchains_dir() / extra).rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(toolchains_dir())).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def build_language_image(language: Language, say: Say = print, force: bool = False) -> str:
    """Build (or find up to date) the language's toolchain image on the runtime image; returns its name."""
    runtime = build_runtime_image(say=say)
    if not language.packages:
        return runtime.image
    client = docker_client()
    wanted = content_hash(language, client.images.get(runtime.image).id)
    if not force and _image_label(language.image, LABEL_CONTENT_HASH) == wanted:
        say(f"{language.image} is up to date (content {wanted})")
        return language.image
    with tempfile.TemporaryDirectory(prefix=f"opendgm-{language.name}-") as workdir:
        debs = download_packages(language.packages, Path(workdir), say)
        extras = Path(workdir) / "extras"
        extras.mkdir()
        for extra in language.extras:
            prepare_extra(extra, extras / extra, say)
        commit_layer(language, runtime.image, debs, extras, wanted, say)
    return language.image


def download_packages(packages: tuple[str, ...], workdir: Path, say: Say) -> Path:
    """The .deb files of `packages` and everything they depend on, from the Debian mirror (cached)."""
    if shutil.which("debootstrap") is None:
        raise SandboxError("building a toolchain image needs debootstrap: apt-get install -y debootstrap")
    if os.geteuid() != 0:
        raise SandboxError("debootstrap needs root to fetch a toolchain's packages; rerun as root")
    cache = cache_dir() / "debs"
    cache.mkdir(parents=True, exist_ok=True)
    target = workdir / "root"
    mirror = debian_mirror()
    say(f"fetching {', '.join(packages)} and their dependencies from {mirror} ...")
    command = ["debootstrap", "--download-only", "--variant=minbase", f"--include={','.join(packages)}"]
    done = subprocess.run(
        [*command, f"--cache-dir={cache}", "bookworm", str(target), mirror],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise SandboxError(f"debootstrap --download-only failed (exit {done.returncode}):\n{tail}")
    debs = workdir / "debs"
    debs.mkdir()
    for deb in (target / "var" / "cache" / "apt" / "archives").glob("*.deb"):
        shutil.copy(deb, debs / deb.name)
    return debs


def prepare_extra(name: str, dest: Path, say: Say) -> None:
    """Make a language's extra files on the host: JavaScript's jest tree from the shipped lockfile."""
    source = toolchains_dir() / name
    shutil.copytree(source, dest)
    if (dest / "package-lock.json").exists():
        if shutil.which("npm") is None:
            raise SandboxError("building the JavaScript image needs npm on the host: apt-get install -y npm")
        say(f"npm ci ({name}) from the registry, versions pinned by the lockfile ...")
        done = subprocess.run(
            ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--cache", str(cache_dir() / "npm")],
            cwd=dest,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
            raise SandboxError(f"npm ci failed (exit {done.returncode}):\n{tail}")


def commit_layer(language: Language, base: str, debs: Path, extras: Path, wanted: str, say: Say) -> None:
    """Install the packages and run the setup in a network-less container of `base`, then commit it."""
    client = docker_client()
    script = f"{INSTALL}\n{language.setup}\n{language.smoke}\n"
    say(f"installing into {language.image} (no network) ...")
    container = client.containers.create(
        base,
        ["bash", "-c", script],
        user="0:0",
        network_mode="none",
        volumes={str(debs): {"bind": DEBS, "mode": "ro"}, str(extras): {"bind": EXTRAS, "mode": "ro"}},
        labels={LABEL_IMAGE: "1"},
    )
    try:
        container.start()
        status = container.wait()
        if status.get("StatusCode") != 0:
            log = container.logs().decode("utf-8", "replace")[-3000:]
            raise SandboxError(f"building {language.image} failed (exit {status.get('StatusCode')}):\n{log}")
        repository, tag = language.image.rsplit(":", 1)
        container.commit(
            repository=repository,
            tag=tag,
            changes=[
                'CMD ["sleep", "infinity"]',
                f'LABEL {LABEL_IMAGE}="1" {LABEL_CONTENT_HASH}="{wanted}"',
            ],
        )
    finally:
        container.remove(force=True)
    say(f"{language.image} built (content {wanted})")
