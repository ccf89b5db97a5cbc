"""Region, profile and retries follow botocore's configuration chain; thermostat fills only its gaps.

The oracle is botocore itself: a real config file in tmp_path (``AWS_CONFIG_FILE``,
``AWS_SHARED_CREDENTIALS_FILE``, ``AWS_PROFILE``), and what a plain
``botocore.session.get_session().create_client(...)`` resolves from it
(``client.meta.region_name``, ``client.meta.config.retries``) compared with what
``infra.aws.client`` ends up with. The config file's format is the one of the AWS CLI's
"Configuration and credential file settings" page (``[default]``, ``[profile NAME]``,
``region``, ``max_attempts``, ``retry_mode``).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.errors import InvalidInput
from infra import aws
from infra.lambda_invoker import BotoFunctionInvoker
from infra.settings import SettingsError, get_settings

pytestmark = pytest.mark.unit

CONFIG = """\
[default]
region = ap-south-1

[profile team]
region = eu-west-1

[profile retrying]
region = eu-central-1
max_attempts = 7
retry_mode = legacy

[profile bare]
output = json
"""


@pytest.fixture
def config_chain(aws_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """A real config file; no region in the environment; a setter for the variables of one case."""
    config = tmp_path / "config"
    config.write_text(CONFIG, encoding="utf-8")
    credentials = tmp_path / "credentials"
    credentials.write_text("[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = secret\n")
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))

    def use(**variables: str | None) -> None:
        for name, value in variables.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        from handlers import wiring

        wiring.reset()  # a new botocore session, and the settings read again

    yield use
    from handlers import wiring

    wiring.reset()


def _botocore_client(service: str = "lambda") -> Any:
    """What botocore alone resolves from the same environment and files (the oracle)."""
    import botocore.session

    return botocore.session.get_session().create_client(service)


# -- region ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"AWS_PROFILE": "team"}, "eu-west-1"),  # the case: us-east-1 before
        ({"AWS_DEFAULT_PROFILE": "team"}, "eu-west-1"),
        ({}, "ap-south-1"),  # no profile named: the [default] section
        ({"AWS_PROFILE": "team", "AWS_DEFAULT_REGION": "sa-east-1"}, "sa-east-1"),  # the environment wins
    ],
)
def test_the_region_is_the_one_botocore_resolves(
    config_chain: Callable[..., None], variables: dict[str, str], expected: str
) -> None:
    # Given a profile selected the way the user selects it
    config_chain(**variables)
    # When thermostat builds its clients and reads its settings
    ours = aws.client("lambda")
    oracle = _botocore_client()
    # Then they all use the region botocore's own chain finds
    assert oracle.meta.region_name == expected
    assert ours.meta.region_name == expected
    assert aws.region() == expected
    assert get_settings().region == expected
    ours.close()
    oracle.close()


def test_aws_region_wins_as_on_lambda(config_chain: Callable[..., None]) -> None:
    # Lambda sets AWS_REGION (and AWS_DEFAULT_REGION); botocore itself reads only the latter
    config_chain(AWS_PROFILE="team", AWS_REGION="us-west-2")
    assert aws.client("sts").meta.region_name == "us-west-2"
    assert get_settings().region == "us-west-2"


def test_only_where_nothing_names_a_region_is_us_east_1_used(config_chain: Callable[..., None]) -> None:
    # Given a profile without a region and no region in the environment
    config_chain(AWS_PROFILE="bare")
    import botocore.session

    assert botocore.session.get_session().get_config_variable("region") is None
    # Then thermostat's own fallback applies
    assert aws.client("sts").meta.region_name == aws.DEFAULT_REGION == "us-east-1"
    assert get_settings().region == "us-east-1"


def test_a_given_environment_mapping_is_the_whole_environment(config_chain: Callable[..., None]) -> None:
    # A mapping passed to load_settings (tests, tools) never reads the developer's config file
    from infra.settings import load_settings

    config_chain(AWS_PROFILE="team")
    assert load_settings({}).region == "us-east-1"
    assert load_settings({"AWS_DEFAULT_REGION": "eu-north-1"}).region == "eu-north-1"


def test_a_profile_that_does_not_exist_is_a_clear_error(config_chain: Callable[..., None]) -> None:
    # Given AWS_PROFILE naming a profile the config file does not have
    config_chain(AWS_PROFILE="nope")
    # When the region is needed, Then the error says which variable to fix (botocore refuses too)
    with pytest.raises(SettingsError, match=r"AWS_PROFILE.*nope"):
        get_settings()
    with pytest.raises(InvalidInput, match=r"AWS_PROFILE.*nope"):
        aws.region()
    with pytest.raises(InvalidInput, match=r"AWS_PROFILE.*nope"):
        aws.client("s3", region_name="eu-west-1")  # a region given: the retry settings still need the profile
    import botocore.exceptions

    with pytest.raises(botocore.exceptions.ProfileNotFound):
        _botocore_client()


def test_a_malformed_config_file_is_a_clear_error(
    config_chain: Callable[..., None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken"
    broken.write_text("[default\nregion = eu-west-1\n", encoding="utf-8")
    config_chain(AWS_CONFIG_FILE=str(broken))
    with pytest.raises(SettingsError, match="AWS_CONFIG_FILE"):
        get_settings()
    assert broken.read_text(encoding="utf-8").startswith("[default")  # nothing rewritten


# -- retries --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variables",
    [
        {"AWS_MAX_ATTEMPTS": "10", "AWS_RETRY_MODE": "adaptive"},  # the case: standard/4 before
        {"AWS_PROFILE": "retrying"},  # the config file's max_attempts and retry_mode
        {"AWS_PROFILE": "retrying", "AWS_MAX_ATTEMPTS": "2"},  # the environment over the file
        {"AWS_RETRY_MODE": "legacy"},  # a mode alone: thermostat still fills in the attempts
    ],
)
def test_the_users_retry_settings_are_the_ones_botocore_resolves(
    config_chain: Callable[..., None], variables: dict[str, str]
) -> None:
    config_chain(**variables)
    ours = aws.client("lambda").meta.config.retries
    oracle = _botocore_client().meta.config.retries
    assert ours["mode"] == oracle["mode"]
    if "total_max_attempts" in oracle:  # the user set attempts: theirs, exactly
        assert ours == oracle
    else:
        assert ours["total_max_attempts"] == aws.DEFAULT_MAX_ATTEMPTS + 1


def test_with_nothing_configured_thermostat_asks_for_few_standard_retries(config_chain: Callable[..., None]) -> None:
    config_chain()
    # botocore's own default mode is legacy in older releases, standard in newer ones: ours is standard
    assert aws.client("lambda").meta.config.retries == {"mode": "standard", "total_max_attempts": 4}


def test_a_caller_that_owns_its_retries_still_gets_one_attempt(config_chain: Callable[..., None]) -> None:
    # The invoker and the CodeDeploy reporter retry themselves: one botocore attempt each
    config_chain(AWS_MAX_ATTEMPTS="10", AWS_RETRY_MODE="adaptive")
    assert aws.client("lambda", max_attempts=0).meta.config.retries == {"mode": "adaptive", "total_max_attempts": 1}


def test_the_invokers_attempts_are_the_users_when_set(config_chain: Callable[..., None]) -> None:
    config_chain()
    assert BotoFunctionInvoker().max_attempts == 2  # thermostat's default
    config_chain(AWS_MAX_ATTEMPTS="5")
    assert BotoFunctionInvoker().max_attempts == 5
    config_chain(AWS_MAX_ATTEMPTS=None, AWS_PROFILE="retrying")
    assert BotoFunctionInvoker().max_attempts == 7


def test_attempts_that_are_not_a_number_are_a_clear_error(config_chain: Callable[..., None]) -> None:
    config_chain(AWS_MAX_ATTEMPTS="ten")
    with pytest.raises(InvalidInput, match=r"AWS_MAX_ATTEMPTS.*whole number"):
        aws.client("lambda")


# -- user agent -----------------------------------------------------------------------------


def test_every_client_says_thermostat_and_its_version(config_chain: Callable[..., None]) -> None:
    from thermostat_runtime import __version__ as runtime_version

    config_chain()
    assert aws.VERSION == importlib.metadata.version("lambda-thermostat") == runtime_version
    user_agent = aws.client("lambda").meta.config.user_agent
    assert user_agent.startswith("Botocore/")
    assert f"thermostat/{aws.VERSION}" in user_agent.split()


@pytest.mark.usefixtures("fresh_ref_clients")
@pytest.mark.parametrize(
    "variables", [{"AWS_MAX_ATTEMPTS": "10", "AWS_RETRY_MODE": "adaptive"}, {"AWS_PROFILE": "retrying"}]
)
def test_the_runtime_modules_s3_client_keeps_the_users_retry_settings(
    config_chain: Callable[..., None], variables: dict[str, str]
) -> None:
    from thermostat_runtime.refs import default_s3_client

    config_chain(**variables)
    assert default_s3_client().meta.config.retries == _botocore_client("s3").meta.config.retries


@pytest.mark.usefixtures("fresh_ref_clients")
def test_the_runtime_modules_s3_client_fills_in_standard_retries_otherwise(config_chain: Callable[..., None]) -> None:
    from thermostat_runtime.refs import default_s3_client

    config_chain()
    assert default_s3_client().meta.config.retries == {"mode": "standard", "total_max_attempts": 4}
