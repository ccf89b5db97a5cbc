"""``thermostat zappa pin`` file handling, with a fake resolver: only s3_bucket changes, idempotently."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from domain.buckets import BucketKey, InvalidBucketName, Resolution
from domain.errors import InvalidInput
from handlers.cli.zappa import default_project, pin_settings

pytestmark = pytest.mark.unit

ZAPPA_STYLE = """{
    "dev": {
        "app_function": "app.app",
        "aws_region": "eu-west-1",
        "project_name": "shop",
        "runtime": "python3.11",
        "slim_handler": true,
        "exclude": ["*.gz", "*.rar"]
    },
    "prod": {
        "extends": "dev",
        "s3_bucket": "zappa-k3j4h5g6f",
        "keep_warm": false
    }
}
"""


class FakeResolver:
    """Resolves like the registry: a throw-away name is never adopted; a key keeps its bucket."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, str | None]] = []
        self.registered: dict[tuple[str, str, str], str] = {}

    def __call__(self, project: str, stage: str, region: str, requested: str | None) -> Resolution:
        self.calls.append((project, stage, region, requested))
        slot = (project, stage, region)
        reused = slot in self.registered
        if not reused:
            adopt = requested is not None and not requested.startswith("zappa-")
            self.registered[slot] = requested if adopt and requested else f"{project}-{stage}-a1b2c3d4"
        bucket = self.registered[slot]
        key = BucketKey(account="123456789012", region=region, project=project, stage=stage)
        stray = requested if requested is not None and requested != bucket else None
        return Resolution(key=key, bucket=bucket, reused=reused, created=not reused, stray=stray)


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    path = tmp_path / "zappa_settings.json"
    path.write_text(ZAPPA_STYLE, encoding="utf-8")
    return path


def test_pin_adds_s3_bucket_at_the_end_of_the_stage_and_changes_nothing_else(settings_file: Path) -> None:
    resolver = FakeResolver()
    # When the dev stage is pinned
    result = pin_settings(settings_file, "dev", resolver, default_region="us-east-1")
    # Then the file is the same text plus one member at the end of dev, indented like its siblings
    expected = ZAPPA_STYLE.replace(
        '"exclude": ["*.gz", "*.rar"]\n', '"exclude": ["*.gz", "*.rar"],\n        "s3_bucket": "shop-dev-a1b2c3d4"\n'
    )
    assert settings_file.read_text(encoding="utf-8") == expected
    assert list(json.loads(expected)["dev"])[-1] == "s3_bucket"
    # And the project and region came from the stage
    assert resolver.calls == [("shop", "dev", "eu-west-1", None)]
    assert result.changed
    assert result.slim_handler
    assert "slim_handler no longer gets a new zappa-XXXXXXXXX bucket" in result.message


def test_a_second_pin_changes_nothing_and_says_so(settings_file: Path) -> None:
    resolver = FakeResolver()
    pin_settings(settings_file, "dev", resolver, default_region="us-east-1")
    before = settings_file.read_text(encoding="utf-8")
    stamp = settings_file.stat().st_mtime_ns
    os.utime(settings_file, ns=(stamp - 10_000_000_000, stamp - 10_000_000_000))
    # When pinned again
    result = pin_settings(settings_file, "dev", resolver, default_region="us-east-1")
    # Then the file is not rewritten and the result says so
    assert not result.changed
    assert "already pinned" in result.message
    assert "no change" in result.message
    assert settings_file.read_text(encoding="utf-8") == before
    assert settings_file.stat().st_mtime_ns == stamp - 10_000_000_000


def test_a_throwaway_zappa_bucket_is_replaced_in_place(settings_file: Path) -> None:
    resolver = FakeResolver()
    # prod extends dev (project shop, eu-west-1) and carries a bucket Zappa invented
    result = pin_settings(settings_file, "prod", resolver, default_region="us-east-1")
    assert resolver.calls == [("shop", "prod", "eu-west-1", "zappa-k3j4h5g6f")]
    assert result.previous == "zappa-k3j4h5g6f"
    assert result.stray == "zappa-k3j4h5g6f"
    text = settings_file.read_text(encoding="utf-8")
    assert text == ZAPPA_STYLE.replace('"s3_bucket": "zappa-k3j4h5g6f"', '"s3_bucket": "shop-prod-a1b2c3d4"')


def test_a_chosen_bucket_is_adopted_and_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "zappa_settings.json"
    original = '{"dev": {"project_name": "shop", "s3_bucket": "acme-shop-deploys"}}'
    path.write_text(original, encoding="utf-8")
    result = pin_settings(path, "dev", FakeResolver(), default_region="us-east-1")
    assert result.bucket == "acme-shop-deploys"
    assert not result.changed
    assert path.read_text(encoding="utf-8") == original


def test_flags_win_over_the_file_and_a_one_line_stage_stays_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "zappa_settings.json"
    path.write_text('{"dev": {"project_name": "shop"}, "other": {}}\n', encoding="utf-8")
    resolver = FakeResolver()
    pin_settings(path, "dev", resolver, default_region="us-east-1", project="store", region="ca-central-1")
    assert resolver.calls == [("store", "dev", "ca-central-1", None)]
    assert path.read_text(encoding="utf-8") == (
        '{"dev": {"project_name": "shop", "s3_bucket": "store-dev-a1b2c3d4"}, "other": {}}\n'
    )
    pin_settings(path, "other", resolver, default_region="us-east-1", project="store")
    assert '"other": {"s3_bucket": "store-other-a1b2c3d4"}' in path.read_text(encoding="utf-8")


def test_the_default_project_is_zappas_the_directory_name_slugified_and_cut(tmp_path: Path) -> None:
    directory = tmp_path / "My Shop_Backend Service"
    directory.mkdir()
    assert default_project(directory) == "my-shop-backend"
    path = directory / "zappa_settings.json"
    path.write_text('{\n\t"dev": {\n\t\t"aws_region": "us-west-2"\n\t}\n}', encoding="utf-8")
    resolver = FakeResolver()
    pin_settings(path, "dev", resolver, default_region="us-east-1")
    assert resolver.calls == [("my-shop-backend", "dev", "us-west-2", None)]
    assert path.read_text(encoding="utf-8") == (
        '{\n\t"dev": {\n\t\t"aws_region": "us-west-2",\n\t\t"s3_bucket": "my-shop-backend-dev-a1b2c3d4"\n\t}\n}'
    )


def test_crlf_files_keep_their_line_endings(tmp_path: Path) -> None:
    path = tmp_path / "zappa_settings.json"
    path.write_bytes(b'{\r\n  "dev": {\r\n    "project_name": "shop"\r\n  }\r\n}\r\n')
    pin_settings(path, "dev", FakeResolver(), default_region="us-east-1")
    assert path.read_bytes() == (
        b'{\r\n  "dev": {\r\n    "project_name": "shop",\r\n    "s3_bucket": "shop-dev-a1b2c3d4"\r\n  }\r\n}\r\n'
    )


@pytest.mark.parametrize(
    ("content", "stage", "words"),
    [
        (None, "dev", "no such file"),
        ('{"dev": {', "dev", "not valid JSON at line 1"),
        ("[1, 2]", "dev", "expected an object of stages"),
        ('{"dev": {}}', "prod", "no stage 'prod'; stages in the file: dev"),
        ('{"dev": {"extends": "base"}}', "dev", "no stage 'base' (extended by 'dev')"),
        ('{"a": {"extends": "b"}, "b": {"extends": "a"}}', "a", "`extends` cycle: a -> b -> a"),
        ('{"dev": {"aws_region": 5}}', "dev", "aws_region of stage 'dev' must be a string"),
    ],
)
def test_bad_settings_files_are_refused_untouched(tmp_path: Path, content: str | None, stage: str, words: str) -> None:
    path = tmp_path / "zappa_settings.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    resolver = FakeResolver()
    with pytest.raises(InvalidInput) as caught:
        pin_settings(path, stage, resolver, default_region="us-east-1", project="shop")
    assert words in str(caught.value)
    assert resolver.calls == []
    if content is not None:
        assert path.read_text(encoding="utf-8") == content


def test_a_yaml_settings_file_gets_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "zappa_settings.yml"
    path.write_text("dev:\n  project_name: shop\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="only JSON settings are supported"):
        pin_settings(path, "dev", FakeResolver(), default_region="us-east-1")


def test_a_resolver_error_leaves_the_file_alone(settings_file: Path) -> None:
    def refuse(project: str, stage: str, region: str, requested: str | None) -> Resolution:
        raise InvalidBucketName("Bad_Name", ["may contain only lowercase letters, digits, '.' and '-' (found 'B_N')"])

    with pytest.raises(InvalidBucketName):
        pin_settings(settings_file, "dev", refuse, default_region="us-east-1")
    assert settings_file.read_text(encoding="utf-8") == ZAPPA_STYLE
    assert [p.name for p in settings_file.parent.iterdir()] == ["zappa_settings.json"]
