"""Make the base image docker/Dockerfile builds on where no image registry can be
reached: Debian bookworm (``debootstrap --variant=minbase``) with Debian's
``python3`` and ``python3-venv``, written as an image archive for ``docker load``.

    python3 docker/make_base.py OUT.tar        # root, debootstrap and the network
    docker load -i OUT.tar                     # -> mutualaid-base:bookworm
    docker build --build-arg BASE_IMAGE=mutualaid-base@sha256:<ID> ...

It prints the image's ID, ``sha256:<hex>``. That ID is the SHA-256 of the
image's config, and the config names its one layer by that layer's SHA-256 and
carries a fixed creation time (the date of the Debian release file the root
file system was made from). So the same archive loads as the same ID on every
engine, and a build that names ``mutualaid-base@sha256:<ID>`` gets exactly
that root file system or nothing. ``docker import`` would not do: it stamps
the time of the import into the config, so each import of one tarball gets a
new ID and there is nothing stable to pin.

Two debootstrap runs do not give the same bytes (package updates, install
times), so each machine pins the base it made; docker/README.md says how a
deployment pins a published image instead.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import email.utils
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("python3", "python3-venv")
TAG = "mutualaid-base:bookworm"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# What Debian's own slim images leave out, for this image and for anything
# apt installs on top of it later (dpkg reads this file at every install).
DPKG_EXCLUDES = """\
# Written by mutualaid's docker/make_base.py: no documentation in the image.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
"""

# dpkg architecture -> the OCI platform's architecture and variant.
PLATFORMS = {"amd64": ("amd64", ""), "arm64": ("arm64", "v8"), "armhf": ("arm", "v7"), "i386": ("386", "")}


def debootstrap(root: Path, mirror: str) -> None:
    include = ",".join(PACKAGES)
    subprocess.run(
        ["debootstrap", "--variant=minbase", f"--include={include}", SUITE, str(root), mirror],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def release_time(root: Path) -> int:
    """The Date: of the suite's Release file the packages came from (read
    before the apt lists are removed): when this Debian was published."""
    for release in sorted((root / "var/lib/apt/lists").glob("*_Release")):
        for line in release.read_text(errors="replace").splitlines():
            if line.startswith("Date:"):
                return int(email.utils.parsedate_to_datetime(line[5:].strip()).timestamp())
    raise SystemExit(f"no Release file under {root}/var/lib/apt/lists: did debootstrap finish?")


def _empty(directory: Path, keep: tuple[str, ...] = ()) -> None:
    if not directory.is_dir():
        return
    for entry in directory.iterdir():
        if entry.name in keep:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def trim(root: Path) -> None:
    """Remove what a container never reads: apt's downloaded packages and
    lists (an apt-get update fetches them again), logs, documentation."""
    (root / "etc/dpkg/dpkg.cfg.d/excludes").write_text(DPKG_EXCLUDES)
    _empty(root / "var/cache/apt/archives", keep=("partial", "lock"))
    for cache in (root / "var/cache/apt").glob("*.bin"):
        cache.unlink()
    _empty(root / "var/lib/apt/lists", keep=("partial", "lock"))
    _empty(root / "var/log")
    _empty(root / "tmp")
    _empty(root / "dev")  # the engine gives each container its own /dev
    for old in (*(root / "var/cache/debconf").glob("*-old"), *(root / "var/lib/dpkg").glob("*-old")):
        old.unlink()
    docs = root / "usr/share/doc"
    for package in docs.iterdir() if docs.is_dir() else ():
        if package.is_dir() and not package.is_symlink():
            for entry in package.iterdir():
                if entry.name != "copyright":
                    shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    for directory in ("usr/share/man", "usr/share/info"):
        _empty(root / directory)
    _empty(root / "usr/share/locale", keep=("locale.alias",))


def layer_tar(root: Path, out: Path, mtime: int) -> str:
    """The root file system as one layer; returns its SHA-256 (the diff ID).
    GNU tar keeps device files, hard links and modes as they are; names are
    sorted and times clamped, so the same tree gives the same bytes."""
    subprocess.run(
        ["tar", "--create", f"--file={out}", f"--directory={root}", "--sort=name", "--numeric-owner",
         "--format=posix", "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
         f"--mtime=@{mtime}", "--clamp-mtime", "."],
        check=True,
    )  # fmt: skip
    digest = hashlib.sha256()
    with out.open("rb") as layer:
        while chunk := layer.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def image_config(diff_id: str, created: int, dpkg_arch: str) -> bytes:
    """The image config (its SHA-256 is the image ID), serialized one fixed way."""
    arch, variant = PLATFORMS.get(dpkg_arch, (dpkg_arch, ""))
    when = email.utils.formatdate(created, usegmt=True)
    stamp = f"{datetime.datetime.fromtimestamp(created, datetime.UTC):%Y-%m-%dT%H:%M:%SZ}"
    config: dict[str, object] = {
        "architecture": arch,
        "os": "linux",
        "created": stamp,
        "config": {"Env": [f"PATH={PATH}"], "Cmd": ["bash"]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
        "history": [
            {
                "created": stamp,
                "created_by": f"debootstrap --variant=minbase --include={','.join(PACKAGES)} {SUITE} "
                f"(Debian as of {when}), trimmed by docker/make_base.py",
            }
        ],
    }
    if variant:
        config["variant"] = variant
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    archive.addfile(info, io.BytesIO(data))


def write_archive(out: Path, layer: Path, diff_id: str, config: bytes) -> str:
    """``docker save``'s format: the layer, the config and manifest.json."""
    image_id = hashlib.sha256(config).hexdigest()
    manifest = [{"Config": f"{image_id}.json", "RepoTags": [TAG], "Layers": [f"{diff_id}/layer.tar"]}]
    partial = out.with_name(out.name + ".partial")
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as archive:
        archive.add(layer, arcname=f"{diff_id}/layer.tar")
        _add(archive, f"{image_id}.json", config)
        _add(archive, "manifest.json", json.dumps(manifest).encode())
    partial.replace(out)  # never a half-written archive under the final name
    return f"sha256:{image_id}"


def archive_id(archive: Path) -> str:
    """The ID an archive written here loads as (read from its manifest)."""
    with tarfile.open(archive) as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None
        (entry,) = json.load(member)
    return "sha256:" + str(entry["Config"]).removesuffix(".json")


def make(out: Path, mirror: str) -> str:
    dpkg_arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True).stdout
    with tempfile.TemporaryDirectory(prefix="mutualaid-base-", dir=out.parent) as work:
        root = Path(work) / "root"
        debootstrap(root, mirror)
        created = int(os.environ.get("SOURCE_DATE_EPOCH") or release_time(root))
        trim(root)
        layer = Path(work) / "layer.tar"
        diff_id = layer_tar(root, layer, created)
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(root)
        return write_archive(out, layer, diff_id, image_config(diff_id, created, dpkg_arch.strip()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], prog="docker/make_base.py")
    parser.add_argument("out", type=Path, help="the image archive to write (docker load -i OUT)")
    parser.add_argument("--mirror", default=MIRROR, help=f"Debian mirror (default {MIRROR})")
    args = parser.parse_args(argv)
    if os.geteuid() != 0 or shutil.which("debootstrap") is None:
        print("make_base.py needs root and debootstrap (apt-get install debootstrap)", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    print(make(args.out.resolve(), args.mirror))
    return 0


if __name__ == "__main__":
    sys.exit(main())
