# What a running node keeps in memory: a node started on an existing key file,
# serving, maps no part of `cryptography` (its Rust module alone is about
# 9 MiB resident; signing, the sealing key and sealed replies go through
# libsodium, which verification loads anyway: docs/STORAGE.md, the memory
# paragraph). Real node processes through the CLI, their /proc maps read.

from __future__ import annotations

from pathlib import Path

from tests._nodes import call, start, stop


def mapped_files(pid: int) -> set[str]:
    """The files mapped into a process: its shared libraries and extension modules."""
    files = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5].startswith("/"):
            files.add(fields[5])
    return files


def test_a_serving_node_does_not_load_cryptography(tmp_path: Path) -> None:
    data = tmp_path / "node"
    first, _ = start(data)  # makes the key file
    try:
        assert mapped_files(first.pid)  # the probe sees a node's libraries at all
    finally:
        assert stop(first) == 0
    process, url = start(data)  # loads it, as every later start does
    try:
        about = call(f"{url}/api/v1/node")
        assert isinstance(about, dict)
        assert about["public_key"]
        call(f"{url}/api/v1/records?limit=5")
        files = mapped_files(process.pid)
        assert any("nacl" in name or "sodium" in name for name in files)
        assert not [name for name in files if "/cryptography" in name]
    finally:
        assert stop(process) == 0
