"""The files a team copies to deploy the bot: each parsed, and what matters in it asserted (never root, SIGTERM
reaches the bot and it has longer than its shutdown bound, health on /healthz, tokens from a secret store, and
an IAM policy that grants only what the bot uses). Where a Docker daemon answers, the image is built and run
against the stand-ins."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bot.reply.replier import ReplySettings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
# the bot's shutdown bound with the default grace: the grace, then 15 s for the stopped replies' notes, 15 more
SHUTDOWN_BOUND = ReplySettings().shutdown_grace_seconds + 30


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, (INSTRUCTION, arguments), continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
            for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_image_is_slim_runs_as_a_user_and_lets_sigterm_reach_the_bot():
    steps = dockerfile()
    instructions = [name for name, _ in steps]
    assert dict(steps)["FROM"].startswith("python:3.11-slim")
    user = [arguments for name, arguments in steps if name == "USER"]
    assert user and user[-1] not in ("root", "0")
    entrypoint = json.loads(dict(steps)["ENTRYPOINT"])  # exec form: no shell between SIGTERM and the bot
    assert entrypoint == ["python", "-m", "bot"] and json.loads(dict(steps)["CMD"]) == ["http"]
    assert dict(steps)["STOPSIGNAL"] == "SIGTERM" and "/healthz" in dict(steps)["HEALTHCHECK"]
    # the dependencies' layer comes before the bot's code, so a change of code does not reinstall them
    code = steps.index(("COPY", "bot ./bot"))
    assert steps[3] == ("COPY", "pyproject.toml README.md LICENSE ./") and "pip install" in steps[code - 1][1]
    assert instructions[code - 1] == "RUN"


def test_the_image_installs_the_way_the_readme_says():
    installs = {match for _, arguments in dockerfile() for match in re.findall(r"pip install[^&]*?'(\.\[[^']*\])'",
                                                                                  arguments)}
    readme = (ROOT / "README.md").read_text()
    assert installs == {".[redis]"} and "pip install '.[redis]'" in readme
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".venv", ".git", "tests"} <= set(ignored)  # no secrets, no local state in the image


def test_compose_runs_the_bot_with_redis_and_time_to_stop():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    bot, redis = compose["services"]["bot"], compose["services"]["redis"]
    assert bot["environment"]["REDIS_URL"].startswith("redis://redis:")
    assert bot["depends_on"]["redis"]["condition"] == "service_healthy" and redis["healthcheck"]
    assert int(bot["stop_grace_period"].rstrip("s")) > SHUTDOWN_BOUND and bot["env_file"] == ".env"


def ecs(name: str) -> dict:
    return json.loads((DEPLOY / "ecs" / name).read_text())


@pytest.mark.parametrize("mode", ["http", "socket"])
def test_the_ecs_task_definitions_take_tokens_from_secrets_and_time_to_stop(mode):
    task = ecs(f"task-definition-{mode}.json")
    [bot] = task["containerDefinitions"]
    assert task["requiresCompatibilities"] == ["FARGATE"] and bot["command"] == [mode]
    assert bot["stopTimeout"] > SHUTDOWN_BOUND and bot["user"] not in ("root", "0")
    secrets = {secret["name"]: secret["valueFrom"] for secret in bot["secrets"]}
    tokens = {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET" if mode == "http" else "SLACK_APP_TOKEN"}
    assert set(secrets) == tokens and all(ref.startswith("arn:aws:secretsmanager:") for ref in secrets.values())
    assert not [e for e in bot["environment"] if re.search("TOKEN|SECRET", e["name"])]  # never in plain text
    assert bot["logConfiguration"]["logDriver"] == "awslogs"
    if mode == "http":
        assert bot["portMappings"][0]["containerPort"] == 3000 and "/healthz" in " ".join(bot["healthCheck"]["command"])
        assert ecs("target-group.json")["HealthCheckPath"] == "/healthz"
        assert ecs("service-http.json")["loadBalancers"][0]["containerPort"] == 3000


def test_the_iam_policies_grant_only_what_the_bot_uses_each_on_its_own_resource():
    granted = {}
    for name in ("iam-task-policy.json", "iam-task-policy-knowledge-bases.json", "iam-task-policy-guardrail.json"):
        for statement in ecs(name)["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            assert statement["Effect"] == "Allow" and "*" not in resources
            for action in actions:
                granted.setdefault(name, set()).add(action)
    assert granted == {"iam-task-policy.json": {"bedrock:InvokeModelWithResponseStream"},
                       "iam-task-policy-knowledge-bases.json": {"bedrock:Retrieve"},
                       "iam-task-policy-guardrail.json": {"bedrock:ApplyGuardrail"}}
    [model] = ecs("iam-task-policy.json")["Statement"]
    assert any(":inference-profile/" in arn for arn in model["Resource"])  # the profile, and the model behind it
    assert any(":foundation-model/" in arn for arn in model["Resource"])
    for statement in ecs("iam-execution-policy.json")["Statement"]:
        assert statement["Resource"] != "*" or statement["Action"] == "ecr:GetAuthorizationToken"


def kubernetes(name: str) -> dict[str, dict]:
    return {document["kind"]: document for document in yaml.safe_load_all((DEPLOY / "kubernetes" / name).read_text())}


def test_kubernetes_runs_several_ready_replicas_that_stop_in_time_and_are_scraped():
    objects = kubernetes("bedrock-slack-bot.yaml")
    deployment, budget = objects["Deployment"], objects["PodDisruptionBudget"]
    pod = deployment["spec"]["template"]
    [bot] = pod["spec"]["containers"]
    assert deployment["spec"]["replicas"] >= 2 and bot["args"] == ["http"]
    assert bot["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert pod["spec"]["terminationGracePeriodSeconds"] > SHUTDOWN_BOUND
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert budget["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert budget["spec"]["minAvailable"] < deployment["spec"]["replicas"]
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == bot["ports"][0]["containerPort"]
    env = {item["name"]: item.get("value") for item in bot["env"]}
    assert env["REDIS_URL"].startswith("redis://bedrock-slack-bot-redis:")
    assert kubernetes("redis.yaml")["Service"]["metadata"]["name"] == "bedrock-slack-bot-redis"
    assert not [name for name in env if re.search("TOKEN|SECRET", name)]  # the tokens come from the Secret


def test_the_systemd_unit_runs_as_its_own_user_and_stops_in_time():
    unit = {}
    for line in (DEPLOY / "systemd" / "bedrock-slack-bot.service").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            unit[key.strip()] = value.strip()
    assert unit["User"] not in ("root", "0") and unit["ExecStart"].endswith("python -m bot")
    assert unit["KillSignal"] == "SIGTERM" and int(unit["TimeoutStopSec"]) > SHUTDOWN_BOUND


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.e2e
@pytest.mark.skipif(not docker_answers(), reason="no Docker daemon on this machine: the image is checked by the "
                                                  "tests above; build it with `docker build .`")
def test_the_image_builds_runs_as_its_user_answers_against_the_stand_ins_and_stops_on_sigterm(slack, bedrock,
                                                                                               aws_env):
    from standins.events import mention

    subprocess.run(["docker", "build", "-t", "bedrock-slack-bot:test", str(ROOT)], check=True, timeout=900)
    user = subprocess.run(["docker", "run", "--rm", "--entrypoint", "id", "bedrock-slack-bot:test", "-u"],
                          capture_output=True, text=True, timeout=120)
    assert user.stdout.strip() == "10001"
    settings = {**aws_env, "SLACK_BOT_TOKEN": "xoxb-local-standin", "SLACK_APP_TOKEN": "xapp-local-standin",
                "SLACK_API_URL": slack.api_url, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    env = [part for name, value in settings.items() for part in ("-e", f"{name}={value}")]
    started = subprocess.run(["docker", "run", "-d", "--network", "host", *env, "bedrock-slack-bot:test", "socket"],
                             capture_output=True, text=True, check=True, timeout=120)
    container = started.stdout.strip()
    try:
        slack.wait_until(lambda: slack.connected, timeout=60, what="the container to connect over Socket Mode")
        event, _ = mention(slack, "<@UBOT> hello from a container")
        slack.send_event(event)
        slack.wait_until(lambda: any(m.text == "Hello from the model." for m in slack.bot_messages()), timeout=30,
                         what="the answer")
        subprocess.run(["docker", "stop", "--time", "60", container], check=True, timeout=120)  # SIGTERM
        code = subprocess.run(["docker", "inspect", "--format", "{{.State.ExitCode}}", container],
                              capture_output=True, text=True, timeout=60).stdout.strip()
        assert code == "0"  # SIGTERM reached the bot (exec form), which stopped cleanly
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, timeout=60)
