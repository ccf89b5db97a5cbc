"""Settings: read lazily from the environment; every problem names its variable."""

from __future__ import annotations

import pytest

from infra.settings import DEFAULT_STRAY_PATTERNS, Settings, SettingsError, get_settings, load_settings

pytestmark = pytest.mark.unit


def test_defaults_match_the_architecture() -> None:
    settings = load_settings({})
    assert settings.table is None
    assert settings.hook_concurrency == 5
    assert settings.hook_jitter == (0.25, 0.4)
    assert settings.payload_buckets == ()
    assert settings.stray_patterns == DEFAULT_STRAY_PATTERNS
    assert settings.bucket_quota == 10_000
    assert settings.sweep_delete is False
    assert settings.metrics_namespace == "Thermostat"


def test_values_are_parsed() -> None:
    settings = load_settings(
        {
            "THERMOSTAT_TABLE": "thermostat",
            "THERMOSTAT_PAYLOAD_BUCKETS": " a-bucket , b-bucket,,",
            "THERMOSTAT_HOOK_TARGET": "orders",
            "THERMOSTAT_HOOK_VERSION": "7",
            "THERMOSTAT_HOOK_CONCURRENCY": "8",
            "THERMOSTAT_HOOK_JITTER": "0.1,0.2",
            "THERMOSTAT_MAX_IN_FLIGHT": "200",
            "THERMOSTAT_SWEEP_DELETE": "true",
            "AWS_DEFAULT_REGION": "eu-west-1",
        }
    )
    assert settings.require_table() == "thermostat"
    assert settings.payload_buckets == ("a-bucket", "b-bucket")
    assert (settings.hook_target, settings.hook_version) == ("orders", "7")
    assert settings.hook_concurrency == 8
    assert settings.hook_jitter == (0.1, 0.2)
    assert settings.max_in_flight == 200
    assert settings.sweep_delete is True
    assert settings.region == "eu-west-1"


def test_aws_region_wins_over_default_region() -> None:
    assert load_settings({"AWS_REGION": "ap-south-1", "AWS_DEFAULT_REGION": "eu-west-1"}).region == "ap-south-1"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"THERMOSTAT_HOOK_CONCURRENCY": "five"}, "THERMOSTAT_HOOK_CONCURRENCY: Input should be a valid integer"),
        (
            {"THERMOSTAT_HOOK_CONCURRENCY": "0"},
            "THERMOSTAT_HOOK_CONCURRENCY: Input should be greater than or equal to 1",
        ),
        ({"THERMOSTAT_HOOK_JITTER": "0.4"}, "THERMOSTAT_HOOK_JITTER: Value error, expected two numbers"),
        ({"THERMOSTAT_HOOK_JITTER": "0.4,0.1"}, "need 0 <= MIN <= MAX <= 60 seconds"),
        ({"THERMOSTAT_MAX_IN_FLIGHT": "-1"}, "THERMOSTAT_MAX_IN_FLIGHT"),
        ({"THERMOSTAT_SWEEP_DELETE": "maybe"}, "THERMOSTAT_SWEEP_DELETE: Input should be a valid boolean"),
        (
            {"THERMOSTAT_STRAY_PATTERNS": "^zappa-(["},
            "THERMOSTAT_STRAY_PATTERNS: Value error, '^zappa-([' is not a valid",
        ),
        ({"THERMOSTAT_HOOK_VERSION": "3"}, "THERMOSTAT_HOOK_VERSION is set but THERMOSTAT_HOOK_TARGET is not"),
        ({"THERMOSTAT_TABLE": "ab"}, "THERMOSTAT_TABLE: String should have at least 3 characters (got 'ab')"),
    ],
)
def test_malformed_variables_are_named(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)
    assert message in str(caught.value)


def test_missing_table_is_a_clear_error() -> None:
    with pytest.raises(SettingsError, match="THERMOSTAT_TABLE is not set"):
        load_settings({}).require_table()


def test_settings_are_read_lazily_and_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    get_settings.cache_clear()
    monkeypatch.setenv("THERMOSTAT_TABLE", "first-table")
    first = get_settings()
    monkeypatch.setenv("THERMOSTAT_TABLE", "second-table")
    assert get_settings() is first
    assert first.table == "first-table"
    get_settings.cache_clear()


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.hook_concurrency = 3  # type: ignore[misc]


def test_stray_patterns_keep_commas_inside_quantifiers_and_classes() -> None:
    settings = load_settings({"THERMOSTAT_STRAY_PATTERNS": r"^zappa-[a-z0-9]{9}$, ^tmp-[a-z,0-9]{3,12}$,^x\,y$"})
    assert settings.stray_patterns == ("^zappa-[a-z0-9]{9}$", "^tmp-[a-z,0-9]{3,12}$", r"^x\,y$")


def test_bind_table_reaches_models_defined_after_an_earlier_binding() -> None:
    from pynamodb.attributes import UnicodeAttribute

    from infra.table import TableModel, bind_table

    bind_table("first-table", "eu-west-1")

    class LateRecord(TableModel):
        note = UnicodeAttribute(null=True)

    LateRecord.Meta.table_name = "thermostat-unbound"  # what a late import would carry
    bind_table("first-table", "eu-west-1")
    assert (LateRecord.Meta.table_name, LateRecord.Meta.region) == ("first-table", "eu-west-1")


def test_the_logger_stands_when_another_variable_is_malformed(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a malformed hook variable beside the Powertools names
    from infra import observability

    monkeypatch.setenv("THERMOSTAT_HOOK_CONCURRENCY", "zero")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "svc-under-test")
    observability.get_logger.cache_clear()
    try:
        # When the control plane's logger is built, Then it takes its service name from the same settings model
        assert observability.get_logger().service == "svc-under-test"
        # while the full settings still refuse the bad variable by name
        with pytest.raises(SettingsError, match="THERMOSTAT_HOOK_CONCURRENCY"):
            load_settings()
    finally:
        observability.get_logger.cache_clear()
