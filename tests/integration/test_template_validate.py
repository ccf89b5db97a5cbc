"""The offline template gate, end to end: translate, cfn-lint, checkov, least privilege.

``serverless/validate.py`` runs in its own environment (``.venv-sam``, built by ``make
validate-template``, which ``make test`` runs first), so these tests call it in a subprocess. The
real templates must pass; deliberately broken copies, one break each, must fail at the stage that
owns the break, so the gate is known to bite.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
VALIDATE = ROOT / "serverless" / "validate.py"
TEMPLATE = ROOT / "serverless" / "template.yaml"

needs_sam_venv = pytest.mark.skipif(
    not SAM_PYTHON.exists(),
    reason=".venv-sam is absent: run `make validate-template` (make test builds it) to install "
    "aws-sam-translator, cfn-lint and checkov from serverless/requirements-validate.txt",
)


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def section(self, path: Path) -> str:
        """The lines printed for one template (from its path up to the next template's)."""
        lines = self.out.splitlines()
        start = lines.index(str(path))
        end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith(" ")), len(lines))
        return "\n".join(lines[start:end])


def _validate(*paths: Path) -> Run:
    done = subprocess.run(
        [str(SAM_PYTHON), str(VALIDATE), *map(str, paths)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


@needs_sam_venv
def test_the_application_and_the_example_pass_every_stage() -> None:
    # Given the shipped templates (the default arguments)
    # When the gate runs as `make validate-template` runs it
    run = _validate()

    # Then both pass all four stages
    assert run.code == 0, run.out + run.err
    for path in (TEMPLATE, ROOT / "serverless" / "spoke.yaml", ROOT / "serverless" / "examples" / "app.yaml"):
        section = run.section(path)
        for stage in ("translate", "cfn-lint", "checkov", "policies"):
            assert re.search(rf"^\s+{stage}\s+ok\b", section, re.MULTILINE), section
    assert "3 template(s) passed" in run.out
    # And every role's statements are printed: keep-warm reads its targets scoped like its pings
    section = run.section(TEMPLATE)
    assert (
        "      InspectTaggedTargets: lambda:GetFunctionConfiguration, lambda:GetFunctionConcurrency, "
        "lambda:GetProvisionedConcurrencyConfig on arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}"
        ':function:* if {"StringEquals":{"aws:ResourceTag/thermostat:warm":"true"}}'
    ) in section
    assert "s3:CreateBucket, s3:PutBucketTagging" in section
    assert "on arn:${AWS::Partition}:s3:::*-????????" in section
    assert "GetFunction," not in section


@dataclass(frozen=True)
class Break:
    name: str
    old: str
    new: str
    stage: str
    expected: str


BREAKS = [
    Break(
        "bad-runtime",
        "    Runtime: !Ref PythonRuntime\n",
        "    Runtime: python3.99\n",
        "cfn-lint",
        "Runtime: 'python3.99' is not one of",
    ),
    Break(
        "wrong-ref",
        "THERMOSTAT_TABLE: !Ref Table\n",
        "THERMOSTAT_TABLE: !Ref Tabel\n",
        "cfn-lint",
        "THERMOSTAT_TABLE/Ref: 'Tabel' is not one",
    ),
    Break(
        "bad-rate",
        "            Schedule: !Ref SweepSchedule\n",
        "            Schedule: rate(5 minutez)\n",
        "cfn-lint",
        "E3027 at Resources/SweeperFunctionSweepSchedule/Properties/ScheduleExpression: 'minutez'",
    ),
    Break(
        "wildcard-invoke",
        "              Action: lambda:InvokeFunction\n"
        '              Resource: !Sub "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:*"\n'
        "              Condition:\n"
        "                StringEquals:\n"
        '                  aws:ResourceTag/thermostat:warm: "true"\n',
        '              Action: lambda:InvokeFunction\n              Resource: "*"\n',
        "policies",
        'statement PingTaggedFunctions: lambda:invokefunction on Resource "*"',
    ),
    # Issue 12, item 5: the deployment function on every bucket, through the parameter's default
    # (the template's own AllowedPattern is relaxed too, so that only the policies stage can object).
    Break(
        "every-bucket",
        '    Default: "*-????????"\n    MaxLength: 63\n'
        '    # An IAM glob with at least one literal character: "*" alone would be every bucket in S3.\n'
        '    AllowedPattern: "^[a-z0-9.*?-]*[a-z0-9.-][a-z0-9.*?-]*$"\n',
        '    Default: "*"\n    MaxLength: 63\n    AllowedPattern: "^[a-z0-9.*?-]{1,63}$"\n',
        "policies",
        "statement DeploymentBuckets: s3:createbucket on every bucket (arn:${AWS::Partition}:s3:::*)",
    ),
    # ... and the template's own check refuses "*" as the default
    Break(
        "every-bucket-default",
        '    Default: "*-????????"\n',
        '    Default: "*"\n',
        "cfn-lint",
        "E2015 at Parameters/DeploymentBucketPattern/Default: Default should be allowed by AllowedPattern",
    ),
    # Keep-warm's look-ups on every function without the tag condition the pings have
    Break(
        "unconditioned-look-ups",
        "                - lambda:GetProvisionedConcurrencyConfig\n"
        '              Resource: !Sub "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:*"\n'
        "              Condition:\n"
        "                StringEquals:\n"
        '                  aws:ResourceTag/thermostat:warm: "true"\n',
        "                - lambda:GetProvisionedConcurrencyConfig\n"
        '              Resource: !Sub "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:*"\n',
        "policies",
        "statement InspectTaggedTargets: lambda:getfunctionconfiguration on every function without a Condition",
    ),
    # GetFunction (code URL, environment; ListTags on tagged functions) where the configuration suffices
    Break(
        "get-function",
        "                - lambda:GetFunctionConfiguration\n                - lambda:GetFunctionConcurrency\n"
        "                - lambda:GetProvisionedConcurrencyConfig\n              Resource: !Sub",
        "                - lambda:GetFunction\n                - lambda:GetFunctionConcurrency\n"
        "                - lambda:GetProvisionedConcurrencyConfig\n              Resource: !Sub",
        "policies",
        "statement InspectTaggedTargets: lambda:getfunction returns the code's URL",
    ),
    Break(
        "no-point-in-time-recovery",
        "      PointInTimeRecoverySpecification:\n        PointInTimeRecoveryEnabled: true\n",
        "",
        "checkov",
        "CKV_AWS_28",
    ),
]


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, dict[str, Path]]:
    """One gate run over every broken copy (one break per file), to pay checkov's start-up once."""
    if not SAM_PYTHON.exists():
        pytest.skip("needs .venv-sam")
    original = TEMPLATE.read_text(encoding="utf-8")
    directory = tmp_path_factory.mktemp("broken")
    paths = {}
    for item in BREAKS:
        assert original.count(item.old) == 1, f"{item.name}: the text to break is not unique in template.yaml"
        path = directory / f"{item.name}.yaml"
        path.write_text(original.replace(item.old, item.new), encoding="utf-8")
        paths[item.name] = path
    return _validate(*paths.values()), paths


@needs_sam_venv
@pytest.mark.parametrize("item", BREAKS, ids=lambda item: item.name)
def test_each_deliberate_break_fails_the_gate_at_its_stage(
    broken_run: tuple[Run, dict[str, Path]], item: Break
) -> None:
    # Given a copy of template.yaml with one break, validated with the others
    run, paths = broken_run

    # When its part of the report is read
    section = run.section(paths[item.name])

    # Then its stage failed and says what is wrong, and the gate exited non-zero naming the file
    assert re.search(rf"^\s+{item.stage}\s+FAILED$", section, re.MULTILINE), section
    assert item.expected in section, section
    assert run.code == 1
    assert str(paths[item.name]) in run.err


@needs_sam_venv
def test_a_break_inside_a_function_is_reported_on_the_translated_function(
    broken_run: tuple[Run, dict[str, Path]],
) -> None:
    # Given the bad-runtime copy: the raw SAM template has no AWS::Lambda::Function to lint
    run, paths = broken_run

    # When its report is read
    section = run.section(paths["bad-runtime"])

    # Then the error points at the translated Lambda function, not at the SAM resource
    assert "E3030 at Resources/KeepWarmFunction/Properties/Runtime: 'python3.99'" in section


@needs_sam_venv
def test_a_missing_template_is_a_usage_error(tmp_path: Path) -> None:
    # Given a path that does not exist
    missing = tmp_path / "nope.yaml"

    # When the gate is asked to check it
    run = _validate(missing)

    # Then it exits 2 and says which file
    assert run.code == 2
    assert f"no such template: {missing}" in run.err


@needs_sam_venv
def test_a_sam_error_fails_the_translate_stage(tmp_path: Path) -> None:
    # Given a template with an event source type SAM does not know
    original = TEMPLATE.read_text(encoding="utf-8")
    broken = tmp_path / "bad-event-type.yaml"
    broken.write_text(
        original.replace("          Type: EventBridgeRule\n", "          Type: EventBridgeRules\n", 1), encoding="utf-8"
    )
    assert broken.read_text(encoding="utf-8") != original

    # When the gate runs
    run = _validate(broken)

    # Then translation fails with SAM's own message and nothing later pretends to pass
    section = run.section(broken)
    assert run.code == 1
    assert re.search(r"^\s+translate\s+FAILED$", section, re.MULTILINE), section
    assert "EventBridgeRules" in section
    assert "cfn-lint" not in section
