"""The node's settings: every whole-number setting has its bounds, checked the
same way from every source, and a refusal names the setting and the bounds."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.core.config import _RANGES, ConfigError, NodeConfig, load_config


def test_the_defaults_are_within_every_bound(tmp_path: Path) -> None:
    config = NodeConfig(data_dir=tmp_path)
    for name, (low, high) in _RANGES.items():
        top = config.max_peers if high == "max_peers" else high
        assert low <= getattr(config, name) <= top, name


@pytest.mark.parametrize("name", sorted(_RANGES))
def test_a_setting_out_of_its_bounds_is_refused_by_name(tmp_path: Path, name: str) -> None:
    low, _ = _RANGES[name]
    with pytest.raises(ConfigError, match=rf"^{name} must be from {low} to "):
        NodeConfig(data_dir=tmp_path, **{name: low - 1})  # type: ignore[arg-type]


def test_anchors_are_bounded_by_max_peers(tmp_path: Path) -> None:
    NodeConfig(data_dir=tmp_path, max_peers=3, anchors=3)
    with pytest.raises(ConfigError, match="anchors must be from 0 to max_peers"):
        NodeConfig(data_dir=tmp_path, max_peers=3, anchors=4)


def test_every_source_is_checked_the_same_way(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("max_peers = 65\n")
    with pytest.raises(ConfigError, match="max_peers must be from 0 to 64"):
        load_config(data_dir=tmp_path, environ={})
    (tmp_path / "config.toml").write_text("")
    with pytest.raises(ConfigError, match="member_write_burst must be from 1"):
        load_config(data_dir=tmp_path, environ={"MUTUALAID_MEMBER_WRITE_BURST": "0"})
    with pytest.raises(ConfigError, match="log_level must be debug, info, warning, error"):
        load_config(data_dir=tmp_path, environ={}, flags={"log_level": "loud"})
    with pytest.raises(ConfigError, match="unknown setting 'max_peer'"):
        load_config(data_dir=tmp_path, environ={"MUTUALAID_MAX_PEER": "3"})
