"""Function specs, names and ARNs, versions, aliases and concurrency settings of the local runner."""

from __future__ import annotations

import random

import pytest

from domain.errors import InvalidInput, NotFound
from emulator.runner_model import (
    LATEST,
    FunctionNotFound,
    FunctionRef,
    FunctionSpec,
    InvalidParameter,
    ProvisionedConfigNotFound,
    ResourceConflict,
    merge_qualifier,
    parse_function_ref,
    spec_with,
    validated_spec,
)
from emulator.runner_registry import Registry

pytestmark = pytest.mark.unit


def make(**fields: object) -> FunctionSpec:
    return FunctionSpec.model_validate({"name": "echo", "handler": "tests.functions.echo.handler", **fields})


@pytest.fixture
def registry() -> Registry:
    registry = Registry()
    registry.add(make(environment={"COLOR": "blue"}))
    return registry


# -- names and ARNs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("echo", FunctionRef("echo", None)),
        ("echo:live", FunctionRef("echo", "live")),
        ("echo:$LATEST", FunctionRef("echo", "$LATEST")),
        ("123456789012:function:echo", FunctionRef("echo", None)),
        ("123456789012:function:echo:3", FunctionRef("echo", "3")),
        ("arn:aws:lambda:us-east-1:123456789012:function:echo", FunctionRef("echo", None)),
        ("arn:aws:lambda:eu-west-1:123456789012:function:my_fn-2:live", FunctionRef("my_fn-2", "live")),
    ],
)
def test_function_names_partial_and_full_arns_are_read(ref: str, expected: FunctionRef) -> None:
    assert parse_function_ref(ref) == expected


@pytest.mark.parametrize("ref", ["", "has space", "arn:aws:lambda:us-east-1:123:function:echo", "a:b:c:d", "x" * 65])
def test_malformed_function_names_are_invalid_parameters(ref: str) -> None:
    with pytest.raises(InvalidParameter, match="failed to satisfy constraint"):
        parse_function_ref(ref)


def test_a_qualifier_in_the_name_must_agree_with_the_parameter() -> None:
    ref = FunctionRef("echo", "1")
    assert merge_qualifier(ref, None) == "1"
    assert merge_qualifier(ref, "1") == "1"
    assert merge_qualifier(FunctionRef("echo", None), "live") == "live"
    with pytest.raises(InvalidParameter, match="does not match the specified qualifier"):
        merge_qualifier(ref, "2")


# -- specs ---------------------------------------------------------------------------------------


def test_reserved_environment_keys_are_refused_with_lambdas_message() -> None:
    with pytest.raises(InvalidParameter) as caught:
        validated_spec({"name": "echo", "handler": "m.h", "environment": {"AWS_REGION": "x", "OK": "1"}})

    assert "Reserved keys used in this request: AWS_REGION" in str(caught.value)
    assert isinstance(caught.value, InvalidInput)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"handler": "nodots"}, "handler"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"timeout_s": 901}, "timeout_s"),
        ({"memory_mb": 64}, "memory_mb"),
        ({"name": "bad name"}, "name"),
        ({"reserved_concurrency": -1}, "reserved_concurrency"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_specs_name_the_field(fields: dict[str, object], problem: str) -> None:
    with pytest.raises(InvalidParameter, match=problem):
        validated_spec({"name": "echo", "handler": "m.h", **fields})


def test_spec_updates_are_validated_and_refuse_unknown_fields() -> None:
    spec = make()

    assert spec_with(spec, {"timeout_s": 9}).timeout_s == 9
    with pytest.raises(InvalidParameter, match=r"cannot update \['colour'\]"):
        spec_with(spec, {"colour": "red"})
    with pytest.raises(InvalidParameter, match=r"cannot update \['name'\]"):
        spec_with(spec, {"name": "other"})
    with pytest.raises(InvalidParameter, match="memory_mb"):
        spec_with(spec, {"memory_mb": 1})
    assert spec.timeout_s == 3.0


# -- functions and versions ----------------------------------------------------------------------


def test_adding_a_function_twice_is_a_conflict_and_keeps_the_first(registry: Registry) -> None:
    with pytest.raises(ResourceConflict):
        registry.add(make(environment={"COLOR": "red"}))

    assert registry.version("echo", LATEST).spec.environment == {"COLOR": "blue"}


def test_unknown_functions_versions_and_aliases_are_not_found(registry: Registry) -> None:
    with pytest.raises(FunctionNotFound, match="function:nope"):
        registry.function("nope")
    with pytest.raises(FunctionNotFound, match="function:echo:4"):
        registry.resolve("echo", "4")
    with pytest.raises(FunctionNotFound, match="function:echo:live"):
        registry.resolve("echo", "live")
    assert issubclass(FunctionNotFound, NotFound)


def test_versions_are_immutable_snapshots_of_latest(registry: Registry) -> None:
    # Given version 1, then a change to $LATEST
    assert registry.publish("echo").version == "1"
    registry.update("echo", {"environment": {"COLOR": "green"}})

    # When version 2 is published
    second = registry.publish("echo")

    # Then version 1 kept its configuration
    assert second.version == "2"
    assert registry.version("echo", "1").spec.environment == {"COLOR": "blue"}
    assert registry.version("echo", "2").spec.environment == {"COLOR": "green"}
    assert [config.version for config in registry.versions("echo")] == [LATEST, "1", "2"]


def test_publishing_an_unchanged_latest_returns_the_last_version(registry: Registry) -> None:
    first = registry.publish("echo")
    registry.update("echo", {"tags": {"team": "x"}, "reserved_concurrency": 3})  # function-level: not a change

    again = registry.publish("echo")

    assert again == first
    assert [config.version for config in registry.versions("echo")] == [LATEST, "1"]
    assert registry.function("echo").reserved == 3


def test_a_failed_update_changes_nothing(registry: Registry) -> None:
    before = registry.version("echo", LATEST)

    with pytest.raises(InvalidParameter):
        registry.update("echo", {"environment": {"AWS_REGION": "nope"}})

    assert registry.version("echo", LATEST) is before


# -- aliases -------------------------------------------------------------------------------------


class Draws(random.Random):
    """A Random whose draws are given."""

    def __init__(self, draws: list[float]) -> None:
        super().__init__()
        self.draws = draws

    def random(self) -> float:
        return self.draws.pop(0)


def test_weighted_aliases_route_by_draw() -> None:
    registry = Registry(rng=Draws([0.1, 0.29, 0.3, 0.9]))
    registry.add(make())
    registry.publish("echo")
    registry.update("echo", {"timeout_s": 5})
    registry.publish("echo")
    registry.create_alias("echo", "live", "2", weights={"1": 0.3})

    executed = [registry.resolve("echo", "live").executed_version for _ in range(4)]

    assert executed == ["1", "1", "2", "2"]
    assert registry.resolve_config("echo", "live").version == "2"


def test_alias_rules(registry: Registry) -> None:
    registry.publish("echo")

    with pytest.raises(InvalidParameter, match="alias name"):
        registry.create_alias("echo", "123", "1")
    with pytest.raises(FunctionNotFound):
        registry.create_alias("echo", "live", "9")
    with pytest.raises(InvalidParameter, match="other than the primary"):
        registry.create_alias("echo", "live", "1", weights={"1": 0.5})  # the primary cannot be an extra
    assert registry.aliases("echo") == []

    registry.create_alias("echo", "live", "1")
    with pytest.raises(ResourceConflict):
        registry.create_alias("echo", "live", "1")
    registry.update_alias("echo", "live", description="prod")
    assert registry.alias("echo", "live").function_version == "1"
    assert registry.alias("echo", "live").description == "prod"


# -- concurrency settings ------------------------------------------------------------------------


def test_provisioned_concurrency_rules(registry: Registry) -> None:
    registry.publish("echo")
    registry.create_alias("echo", "live", "1")

    with pytest.raises(InvalidParameter, match="unpublished function versions"):
        registry.set_provisioned("echo", LATEST, 1)
    with pytest.raises(FunctionNotFound):
        registry.set_provisioned("echo", "nope", 1)
    registry.set_reserved("echo", 2)
    with pytest.raises(InvalidParameter, match="exceeds the function's reserved concurrency"):
        registry.set_provisioned("echo", "live", 3)
    with pytest.raises(ProvisionedConfigNotFound):
        registry.provisioned("echo", "live")

    registry.set_provisioned("echo", "live", 1)
    registry.set_provisioned("echo", "1", 1)
    assert registry.provisioned_by_version("echo") == {"1": 2}
    registry.set_provisioned("echo", "1", 0)
    assert registry.provisioned_by_version("echo") == {"1": 1}


def test_deleting_an_alias_removes_its_provisioned_concurrency(registry: Registry) -> None:
    registry.publish("echo")
    registry.create_alias("echo", "live", "1")
    registry.set_provisioned("echo", "live", 1)

    registry.delete_alias("echo", "live")

    assert registry.provisioned_by_version("echo") == {}
    with pytest.raises(FunctionNotFound):
        registry.alias("echo", "live")
