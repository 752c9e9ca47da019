"""Polyglot toolchain images: one layer per language on the shared runtime image, built without a registry.

The host fetches what the layer needs, then a container with no network installs it and is committed:
- Debian packages: apt on the host resolves the language's packages against the base image's installed
  set and downloads what is missing from the configured Debian mirror (the offline base image's route),
  into a cache kept between builds; the container installs those files.
- JavaScript's jest tree: `npm ci` on the host from the lockfile shipped with opendgm (pinned versions).
Every language image shares the runtime image's layers (Python's is the runtime image itself). An image
carries a hash of what it was built from (base image id, packages, setup, lockfile) and is rebuilt only
when that changes.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from opendgm.evaluators.polyglot_languages import Language
from opendgm.sandbox import (
    LABEL_CONTENT_HASH,
    LABEL_IMAGE,
    EngineFailure,
    build_runtime_image,
    debian_mirror,
    docker_client,
    image_label,
)

Say = Callable[[str], None]
DEBS = "/opt/opendgm-debs"
EXTRAS = "/opt/opendgm-extras"
# `apt-get install --simulate` lines: `Inst cargo (0.66.0+ds1-1 Debian:12/stable [amd64])`.
SIMULATED_INSTALL = re.compile(r"^Inst (\S+) (?:\[\S+\] )?\((\S+) .*\[(\w+)\]\)", re.MULTILINE)
DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
# Installs the downloaded packages (the container has no network: apt can only use the files given).
INSTALL = f"""\
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends {DEBS}/*.deb
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
    wanted = content_hash(language, client.images.get(runtime.image).attrs["Id"])  # `Image.id` is typed optional
    if not force and image_label(language.image, LABEL_CONTENT_HASH) == wanted:
        say(f"{language.image} is up to date (content {wanted})")
        return language.image
    with tempfile.TemporaryDirectory(prefix=f"opendgm-{language.name}-") as workdir:
        debs = download_packages(language.packages, runtime.image, Path(workdir), say)
        extras = Path(workdir) / "extras"
        extras.mkdir()
        for extra in language.extras:
            prepare_extra(extra, extras / extra, say)
        commit_layer(language, runtime.image, debs, extras, wanted, say)
    return language.image


def download_packages(packages: tuple[str, ...], base: str, workdir: Path, say: Say) -> Path:
    """The .deb files of `packages` and of every dependency `base` lacks, from the Debian mirror (cached).

    apt resolves them on the host with a configuration of its own (bookworm from the configured mirror,
    checked against Debian's archive keyring) and the base image's dpkg status as the installed set:
    virtual packages and alternatives resolve as they will in the container.
    """
    if shutil.which("apt-get") is None or not Path(DEBIAN_KEYRING).exists():
        raise EngineFailure(f"building a toolchain image needs apt-get and {DEBIAN_KEYRING} (debian-archive-keyring)")
    if os.geteuid() != 0:
        raise EngineFailure("fetching a toolchain's packages with apt needs root; rerun as root")
    cache = cache_dir() / "apt"
    for folder in (cache / "lists" / "partial", cache / "archives" / "partial", workdir / "etc" / "parts"):
        folder.mkdir(parents=True, exist_ok=True)
    (workdir / "etc" / "sources.list").write_text(f"deb [signed-by={DEBIAN_KEYRING}] {debian_mirror()} bookworm main\n")
    (workdir / "status").write_bytes(dpkg_status(base))
    options = {
        "Dir::Etc::sourcelist": workdir / "etc" / "sources.list",
        "Dir::Etc::sourceparts": workdir / "etc" / "parts",
        "Dir::Etc::preferencesparts": workdir / "etc" / "parts",
        "Dir::State::Lists": cache / "lists",
        "Dir::State::status": workdir / "status",
        "Dir::Cache": workdir / "apt-cache",
        "Dir::Cache::archives": cache / "archives",
        "APT::Architecture": "amd64",
        "APT::Install-Recommends": "false",
        "Debug::NoLocking": "true",
    }
    apt = ["apt-get", "-q", *(f"-o{key}={value}" for key, value in options.items())]
    say(f"fetching {', '.join(packages)} and what they need from {debian_mirror()} ...")
    _run([*apt, "update"], "apt-get update")
    planned = _run([*apt, "install", "-y", "--simulate", *packages], "apt-get install --simulate")
    _run([*apt, "install", "-y", "--download-only", *packages], "apt-get install --download-only")
    debs = workdir / "debs"
    debs.mkdir()
    for name, version, arch in SIMULATED_INSTALL.findall(planned):
        deb = f"{name}_{version.replace(':', '%3a')}_{arch}.deb"
        shutil.copy(cache / "archives" / deb, debs / deb)
    return debs


def dpkg_status(image: str) -> bytes:
    """The image's /var/lib/dpkg/status: what its packages already are."""
    output = docker_client().containers.run(image, ["cat", "/var/lib/dpkg/status"], network_mode="none", remove=True)
    return output if isinstance(output, bytes) else b""


def _run(command: list[str], what: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise EngineFailure(f"{what} failed (exit {done.returncode}):\n{tail}")
    return done.stdout


def prepare_extra(name: str, dest: Path, say: Say) -> None:
    """Make a language's extra files on the host: JavaScript's jest tree from the shipped lockfile."""
    source = toolchains_dir() / name
    shutil.copytree(source, dest)
    if (dest / "package-lock.json").exists():
        if shutil.which("npm") is None:
            raise EngineFailure("building the JavaScript image needs npm on the host: apt-get install -y npm")
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
            raise EngineFailure(f"npm ci failed (exit {done.returncode}):\n{tail}")


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
            raise EngineFailure(f"building {language.image} failed (exit {status.get('StatusCode')}):\n{log}")
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
