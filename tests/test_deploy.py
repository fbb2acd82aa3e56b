"""The deployment files, checked offline: compose.yaml against the Compose Specification schema, the
Kubernetes manifests against the Kubernetes and KEDA schemas, and both against the code (settings, queues,
streams, groups, ports, grace periods). Nothing here needs Docker or a cluster; the README says what those
would add.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import stat
import subprocess
import sys
import time
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import kubernetes_validate
import pytest
import yaml
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families
from pydantic_settings import BaseSettings

from downloader.settings import DownloaderSettings
from gateway.settings import GatewaySettings
from imaging.settings import ImagingSettings
from janitor.settings import JanitorSettings
from jobcommon import keys
from jobcommon.queues import QUEUES
from metadata.settings import MetadataSettings
from tests.cluster import Cluster
from tests.conftest import ApiKeys, bearer, wait_until_ready
from tests.jobs import submit, wait_terminal
from tests.support.httpserver import MediaServer
from tools.localredis import free_port
from tools.procs import SERVICES

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "deploy" / "schemas"
K8S = ROOT / "deploy" / "k8s"
WORKERS = tuple(name for name in SERVICES if name != "gateway")
SETTINGS: dict[str, type[BaseSettings]] = {
    "gateway": GatewaySettings,
    "downloader": DownloaderSettings,
    "metadata": MetadataSettings,
    "imaging": ImagingSettings,
    "janitor": JanitorSettings,
}
PROCESS_ENV = {
    # read straight from the environment by jobcommon, not through a settings class
    "OTEL_EXPORTER_OTLP_ENDPOINT": "tracing.py",
    "LOG_LEVEL": "logs.py",
    "LOG_FORMAT": "logs.py",
}
SCALE_TO_ZERO = {"metadata", "imaging"}


def queue_of(service: str) -> str:
    return next(spec.queue for spec in QUEUES.values() if spec.group == service)


def seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|m)", duration)
    assert match, duration
    return int(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60}[match.group(2)]


def known_env(service: str) -> set[str]:
    return {name.upper() for name in SETTINGS[service].model_fields} | set(PROCESS_ENV)


def check_env(service: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Every variable is a real setting of `service`, and its settings class accepts the values."""
    unknown = set(env) - known_env(service)
    assert not unknown, f"{service}: {sorted(unknown)} are not settings of {SETTINGS[service].__name__}"
    with monkeypatch.context() as patched:
        for name, value in env.items():
            patched.setenv(name, value)
        SETTINGS[service]()


def test_process_level_variables_are_read_where_the_allow_list_says() -> None:
    for name, module in PROCESS_ENV.items():
        assert name in (ROOT / "libs/jobcommon/src/jobcommon" / module).read_text()


# ---- compose -----------------------------------------------------------------------------------------------


@cache
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def compose_env(service: str) -> dict[str, str]:
    return {name: str(value) for name, value in compose()["services"][service]["environment"].items()}


def test_compose_follows_the_compose_specification() -> None:
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    assert not [f"{e.json_path}: {e.message}" for e in validator.iter_errors(compose())]
    broken = {**compose(), "services": {"gateway": {"image": "x", "restart_policy": "always"}}}
    assert not validator.is_valid(broken)  # the schema does reject mistakes


@pytest.mark.parametrize("service", SERVICES)
def test_compose_sets_only_real_settings(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    check_env(service, compose_env(service), monkeypatch)


@pytest.mark.parametrize("service", SERVICES)
def test_compose_runs_every_service_from_its_own_image_target(service: str) -> None:
    spec = compose()["services"][service]
    assert spec["build"]["target"] == service
    assert spec["restart"] == "unless-stopped"
    assert spec["healthcheck"]["test"]
    assert spec["deploy"]["resources"]["limits"].keys() >= {"cpus", "memory"}
    assert spec["logging"]["driver"] == "json-file"
    assert spec["logging"]["options"].keys() >= {"max-size", "max-file"}
    assert spec["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"
    assert "media:/media" in spec["volumes"]
    assert spec["depends_on"]["redis"]["condition"] == "service_healthy"


@pytest.mark.parametrize("service", WORKERS)
def test_compose_workers_are_health_checked_and_outlast_their_graceful_timeout(service: str) -> None:
    spec = compose()["services"][service]
    assert spec["healthcheck"]["test"] == ["CMD", "python", "-m", "jobcommon.health", service]
    graceful = float(spec["environment"]["GRACEFUL_TIMEOUT_S"])
    assert seconds(spec["stop_grace_period"]) > graceful + 5
    assert spec["deploy"]["replicas"] == (2 if service == "janitor" else 1)


def test_compose_publishes_the_gateway_and_the_uis_on_loopback_only() -> None:
    services = compose()["services"]
    port = GatewaySettings(gateway_port=int(services["gateway"]["environment"]["GATEWAY_PORT"]))
    assert services["gateway"]["ports"] == [f"127.0.0.1:{port.gateway_port}:{port.gateway_port}"]
    assert services["jaeger"]["ports"] == ["127.0.0.1:16686:16686"]
    assert services["jaeger"]["image"].startswith("jaegertracing/jaeger:2.")
    assert {"4317", "4318"} <= set(services["jaeger"]["expose"])
    assert services["prometheus"]["ports"] == ["127.0.0.1:9090:9090"]
    assert services["grafana"]["ports"] == ["127.0.0.1:3000:3000"]
    published = {name for name, spec in services.items() if spec.get("ports")}
    assert published == {"gateway", "jaeger", "prometheus", "grafana"}


def test_compose_services_export_their_spans_to_jaeger_and_jobs_link_to_its_ui() -> None:
    """Every mediajobs service sends OTLP/HTTP to the jaeger service; the gateway's `trace_url` template opens
    a trace in the Jaeger UI on the port compose publishes."""
    services = compose()["services"]
    for service in SERVICES:
        assert compose_env(service)["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318", service
    assert "4318" in services["jaeger"]["expose"]
    (published,) = services["jaeger"]["ports"]
    host, port, _ = published.split(":")
    template = GatewaySettings(tracing_ui_url=compose_env("gateway")["TRACING_UI_URL"]).tracing_ui_url
    assert template == f"http://{host}:{port}/trace/{{trace_id}}"


def test_compose_redis_is_private_persistent_and_never_evicts() -> None:
    services, networks = compose()["services"], compose()["networks"]
    redis = services["redis"]
    assert redis["image"].startswith("redis:7")
    command = " ".join(redis["command"])
    for option in (
        "--appendonly yes",
        "--appendfsync everysec",
        "--maxmemory-policy noeviction",
        "--hash-max-listpack-value 1024",
    ):
        assert option in command
    assert "redis:/data" in redis["volumes"]
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "ports" not in redis
    assert redis["networks"] == ["backend"]
    assert networks["backend"]["internal"] is True
    assert compose()["volumes"].keys() == {"redis", "media", "prometheus", "grafana"}


def test_compose_gateway_reads_its_api_keys_from_a_secret() -> None:
    gateway = compose()["services"]["gateway"]
    assert gateway["secrets"] == ["api_keys"]
    assert gateway["environment"]["API_KEYS_FILE"] == "/run/secrets/api_keys"
    assert "api-keys.json" in compose()["secrets"]["api_keys"]["file"]


def test_compose_services_log_json_and_expose_their_metrics_to_prometheus() -> None:
    """Every mediajobs service logs JSON lines; workers bind their metrics port on the container's address;
    the gateway's /metrics is public (Prometheus holds no key) and answers the Host `gateway`."""
    for service in SERVICES:
        assert compose_env(service)["LOG_FORMAT"] == "json", service
    for service in WORKERS:
        assert compose_env(service)["METRICS_HOST"] == "0.0.0.0", service
        assert metrics_port(service) > 0
    gateway = compose_env("gateway")
    assert gateway["METRICS_PUBLIC"] == "true"
    assert "gateway" in gateway["GATEWAY_ALLOWED_HOSTS"].split(",")


# ---- Prometheus and Grafana (compose) ----------------------------------------------------------------------

GRAFANA = ROOT / "deploy" / "grafana"


def metrics_port(service: str) -> int:
    """The port a worker serves /metrics on in compose: its METRICS_PORT there, else its settings' default."""
    env = compose_env(service)
    if "METRICS_PORT" in env:
        return int(env["METRICS_PORT"])
    default = SETTINGS[service].model_fields["metrics_port"].default
    assert isinstance(default, int)
    return default


def bind_mounts(service: str) -> dict[Path, str]:
    """Host path (resolved) -> container path of a compose service's bind mounts."""
    mounts: dict[Path, str] = {}
    for volume in compose()["services"][service]["volumes"]:
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            mounts[(ROOT / source).resolve()] = target
    return mounts


def prometheus_config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    return loaded


def test_prometheus_scrapes_every_service_at_its_metrics_port() -> None:
    """One job per mediajobs service: the gateway at its compose name and GATEWAY_PORT, each worker by DNS
    service discovery on its compose name (every replica) at its METRICS_PORT; compose mounts this file."""
    jobs = {job["job_name"]: job for job in prometheus_config()["scrape_configs"]}
    assert jobs.keys() == set(SERVICES)
    services = compose()["services"]
    (static,) = jobs["gateway"]["static_configs"]
    assert static["targets"] == [f"gateway:{compose_env('gateway')['GATEWAY_PORT']}"]
    assert jobs["gateway"].get("metrics_path", "/metrics") == "/metrics"
    for service in WORKERS:
        (discovery,) = jobs[service]["dns_sd_configs"]
        assert discovery == {"names": [service], "type": "A", "port": metrics_port(service)}
        assert service in services
        assert "backend" in services[service]["networks"]
    prometheus = services["prometheus"]
    config = ROOT / "deploy/prometheus/prometheus.yml"
    assert f"--config.file={bind_mounts('prometheus')[config]}" in prometheus["command"]
    assert "backend" in prometheus["networks"]
    assert prometheus["healthcheck"]["test"]


def test_grafana_provisions_prometheus_and_the_dashboard_compose_mounts() -> None:
    services = compose()["services"]
    mounts = bind_mounts("grafana")
    assert mounts[GRAFANA / "provisioning"] == "/etc/grafana/provisioning"
    dashboards_dir = mounts[GRAFANA / "dashboards"]
    provisioning = GRAFANA / "provisioning"
    (source,) = yaml.safe_load((provisioning / "datasources/prometheus.yaml").read_text())["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    assert "127.0.0.1:9090:9090" in services["prometheus"]["ports"]
    assert set(services["grafana"]["networks"]) & set(services["prometheus"]["networks"])
    (provider,) = yaml.safe_load((provisioning / "dashboards/mediajobs.yaml").read_text())["providers"]
    assert provider["options"]["path"] == dashboards_dir
    assert (GRAFANA / "dashboards" / "mediajobs.json").is_file()
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{dashboards_dir}/mediajobs.json"
    for panel in dashboard()["panels"]:
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == source["uid"], panel["title"]


@cache
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((GRAFANA / "dashboards" / "mediajobs.json").read_text())
    return loaded


METRIC_NAME = re.compile(r"\bmediajobs_\w+")


def dashboard_metrics() -> dict[str, set[str]]:
    """Panel title -> the metric names its PromQL expressions use."""
    return {
        panel["title"]: {name for target in panel["targets"] for name in METRIC_NAME.findall(target["expr"])}
        for panel in dashboard()["panels"]
    }


EXPECTED_PANELS = {
    "Queue depth and lag": {"mediajobs_queue_length", "mediajobs_queue_lag"},
    "Oldest waiting age": {"mediajobs_queue_oldest_waiting_age_seconds"},
    "Throughput: jobs finished/s": {"mediajobs_jobs_finished_total"},
    "Attempt duration p50 / p95": {"mediajobs_job_attempt_duration_seconds_bucket"},
    "Queue wait p95": {"mediajobs_job_queue_wait_seconds_bucket"},
    "Failures by error type": {"mediajobs_job_errors_total"},
    "Running jobs / running downloads": {"mediajobs_jobs_running"},
    "Downloaded bytes/s": {"mediajobs_downloaded_bytes_total"},
    "Retries": {"mediajobs_job_retries_total"},
    "Dead letters": {"mediajobs_jobs_dead_lettered_total"},
    "Reclaims": {"mediajobs_job_reclaims_total"},
}


def test_the_dashboard_has_the_expected_panels() -> None:
    used = dashboard_metrics()
    for title, names in EXPECTED_PANELS.items():
        assert names <= used.get(title, set()), title
    exprs = [target["expr"] for panel in dashboard()["panels"] for target in panel["targets"]]
    for quantile in ("0.5", "0.95"):
        assert any(e.startswith(f"histogram_quantile({quantile},") and "attempt_duration" in e for e in exprs)
    assert any("rate(mediajobs_downloaded_bytes_total[" in e for e in exprs)
    assert any("by (job_type, status)" in e and "jobs_finished" in e for e in exprs)
    assert dashboard()["uid"] == "mediajobs"
    assert len({panel["id"] for panel in dashboard()["panels"]}) == len(dashboard()["panels"])


def exposed(text: str) -> tuple[set[str], set[str]]:
    """(names of the samples in a scrape, every name its declared families may expose)."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    samples: set[str] = set()
    declared: set[str] = set()
    for family in text_string_to_metric_families(text):
        samples |= {sample.name for sample in family.samples}
        declared |= {family.name + suffix for suffix in suffixes.get(family.type, ("",))}
    return samples, declared


async def test_every_metric_the_dashboard_queries_is_in_a_real_scrape(
    cluster: Cluster, tmp_path: Path, api_keys: ApiKeys, media_server: MediaServer
) -> None:
    """A gateway, a janitor, a downloader and imaging (real processes, their own metrics ports) run an echo
    job, a failing one, one retried into the dead letters, a small download and an imaging job; every metric
    name in the dashboard's expressions is then a sample of some scrape. Reclaims (a killed worker) are only
    declared (HELP/TYPE), which tests/test_observability.py covers with samples."""
    port = free_port()
    worker_ports = {service: free_port() for service in ("janitor", "downloader", "imaging")}
    cluster.start("gateway", GATEWAY_PORT=str(port), API_KEYS_FILE=str(api_keys.file(tmp_path)))
    for service, metrics in worker_ports.items():
        cluster.start(service, METRICS_PORT=str(metrics), IMAGING_WORKERS="1")
    api_url = f"http://127.0.0.1:{port}"
    await asyncio.to_thread(wait_until_ready, api_url, set(worker_ports), api_keys.admin, 60.0)
    (cluster.media_root / "in").mkdir(parents=True)
    Image.new("RGB", (64, 48), (30, 200, 30)).save(cluster.media_root / "in" / "green.png")
    bodies: list[dict[str, Any]] = [
        {"job_type": "echo", "payload": {"n": 1}},
        {"job_type": "echo", "fail_with": "no", "fail_kind": "permanent"},
        {
            "job_type": "echo",
            "fail_with": "flaky",
            "fail_kind": "transient",
            "fail_attempts": 5,
            "retry": {"max_attempts": 2, "backoff_base_s": 0.05, "backoff_cap_s": 0.1},
        },
        {"job_type": "video_download", "url": media_server.url("clip.mp4")},
        {"job_type": "image_optimize", "sources": ["in/green.png"]},
    ]
    async with httpx.AsyncClient(base_url=api_url, timeout=30, headers=bearer(api_keys.admin)) as api:
        jobs = [await submit(api, body) for body in bodies]
        finals = [await wait_terminal(api, job["task_id"], timeout=90) for job in jobs]
        assert [f["status"] for f in finals] == ["succeeded", "failed", "failed", "succeeded", "succeeded"]
        texts = [(await api.get("/metrics")).text]
        for metrics in worker_ports.values():
            response = await api.get(f"http://127.0.0.1:{metrics}/metrics")
            assert response.status_code == 200
            texts.append(response.text)
    samples: set[str] = set()
    declared: set[str] = set()
    for text in texts:
        found, names = exposed(text)
        samples |= found
        declared |= names
    used = set().union(*dashboard_metrics().values())
    assert used - {"mediajobs_job_reclaims_total"} <= samples, sorted(used - samples)
    assert used <= declared, sorted(used - declared)


# ---- Dockerfile and Taskfile -------------------------------------------------------------------------------


def dockerfile_stages() -> dict[str, str]:
    """Stage name -> its text."""
    text = (ROOT / "Dockerfile").read_text()
    parts = re.split(r"^FROM\s+\S+\s+AS\s+(\S+)\s*$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


@pytest.mark.parametrize("service", SERVICES)
def test_each_image_installs_only_its_own_package_and_checks_its_health(service: str) -> None:
    stages = dockerfile_stages()
    build = stages[f"build-{service}"]
    assert f"install-mediajobs deps mediajobs-{service}" in build
    assert f"install-mediajobs source libs/jobcommon services/{service}" in build
    assert re.search(r"deps .*\n(?:.*\n)*COPY services/", build), "dependencies install before the source"
    final = stages[service]
    assert "COPY --from=build-" + service + " /opt/venv /opt/venv" in final
    assert "HEALTHCHECK" in final
    health = "/jobs/health" if service == "gateway" else f'"jobcommon.health", "{service}"'
    assert health in final
    assert "uv" not in final.replace("urllib", "")  # no uv in a final stage
    assert "USER 10001" in stages["runtime"]


def test_every_workspace_member_is_known_to_the_image_build() -> None:
    """`uv lock` in the builder needs every member's pyproject.toml (a missing one breaks every image)."""
    members = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]["members"]
    folders = sorted(
        str(p.parent.relative_to(ROOT)) for g in members for p in ROOT.glob(f"{g}/pyproject.toml")
    )
    builder = dockerfile_stages()["builder"]
    assert len(folders) >= 7
    for folder in folders:
        assert f"COPY {folder}/pyproject.toml {folder}/" in builder, folder


def test_uv_is_installed_from_the_package_index_only() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"pip install --no-cache-dir uv==[\d.]+", text)
    assert "curl" not in text
    assert "wget" not in text
    assert "uv.lock" in (ROOT / ".dockerignore").read_text()


def test_taskfile_has_the_container_tasks_and_keeps_the_others() -> None:
    tasks = yaml.safe_load((ROOT / "Taskfile.yml").read_text())["tasks"]
    expected = {"up", "down", "logs", "ps", "scale", "build", "dev", "test", "lint", "bench", "pins"}
    assert expected <= tasks.keys()
    up = " ".join(str(cmd) for cmd in tasks["up"]["cmds"])
    assert "docker compose up --build --detach --wait" in up
    assert "http://127.0.0.1:8000/docs" in up
    assert "http://127.0.0.1:16686" in up
    assert "http://127.0.0.1:3000" in up
    assert "http://127.0.0.1:9090" in up


# ---- Kubernetes --------------------------------------------------------------------------------------------


@cache
def manifests() -> tuple[dict[str, Any], ...]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for resource in kustomization["resources"]:
        docs.extend(doc for doc in yaml.safe_load_all((K8S / resource).read_text()) if doc)
    return tuple(docs)


def find(kind: str, name: str) -> dict[str, Any]:
    return next(d for d in manifests() if d["kind"] == kind and d["metadata"]["name"] == name)


def container(name: str) -> dict[str, Any]:
    (only,) = find("Deployment", name)["spec"]["template"]["spec"]["containers"]
    assert isinstance(only, dict)
    return only


def k8s_env(service: str) -> dict[str, str]:
    config = find("ConfigMap", "mediajobs-config")["data"]
    return {**config, **{item["name"]: item["value"] for item in container(service).get("env", [])}}


def test_every_core_object_is_valid_for_kubernetes() -> None:
    version = kubernetes_validate.latest_version()
    core = [doc for doc in manifests() if not doc["apiVersion"].startswith("keda.sh/")]
    assert {doc["kind"] for doc in core} >= {
        "Namespace", "ConfigMap", "Secret", "PersistentVolumeClaim", "Service", "StatefulSet", "Deployment",
        "PodDisruptionBudget", "NetworkPolicy",
    }  # fmt: skip
    for doc in core:
        kubernetes_validate.validate(doc, version, strict=True)
    broken = {**find("Deployment", "gateway"), "spec": {"replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, version, strict=True)


def scaled_objects() -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in manifests() if doc["kind"] == "ScaledObject"}


def test_scaled_objects_follow_kedas_crd_schema() -> None:
    schema = yaml.safe_load((SCHEMAS / "keda-scaledobject.schema.yaml").read_text())
    validator = jsonschema.Draft7Validator(schema)
    for doc in scaled_objects().values():
        assert doc["apiVersion"] == "keda.sh/v1alpha1"
        assert not [f"{e.json_path}: {e.message}" for e in validator.iter_errors(doc)]
    assert not validator.is_valid({"spec": {"scaleTargetRef": {"name": "x"}, "triggers": [{"type": "cpu"}]}})


@pytest.mark.parametrize("service", ["downloader", "metadata", "imaging"])
def test_each_worker_queue_scales_on_its_own_stream_and_group(service: str) -> None:
    scaled = scaled_objects()[service]["spec"]
    assert scaled["scaleTargetRef"]["name"] == service
    spec = next(spec for spec in QUEUES.values() if spec.group == service)
    triggers = scaled["triggers"]
    assert {t["type"] for t in triggers} == {"redis-streams"}
    assert spec.stream == keys.stream(queue_of(service))
    for trigger in triggers:
        assert trigger["metadata"]["consumerGroup"] == spec.group
        host = trigger["metadata"]["address"].split(".")
        assert host[:2] == ["redis", find("Namespace", "mediajobs")["metadata"]["name"]]
    for stream in spec.lanes.values():  # every priority's lane scales, on its backlog and its running jobs
        on_lane = [t["metadata"] for t in triggers if t["metadata"]["stream"] == stream]
        lag = next(t for t in on_lane if "lagCount" in t)
        assert lag["activationLagCount"] == "0"
        assert int(lag["lagCount"]) == int(k8s_env(service)["CONCURRENCY"])
        assert any("pendingEntriesCount" in t for t in on_lane)  # running jobs keep their pods
    assert {t["metadata"]["stream"] for t in triggers} == set(spec.lanes.values())
    assert len({t["name"] for t in triggers}) == len(triggers)
    assert scaled["minReplicaCount"] == (0 if service in SCALE_TO_ZERO else 1)


def test_the_janitor_is_fixed_at_two_replicas() -> None:
    assert "janitor" not in scaled_objects()
    assert find("Deployment", "janitor")["spec"]["replicas"] == 2


@pytest.mark.parametrize("service", SERVICES)
def test_k8s_sets_only_real_settings(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    check_env(service, k8s_env(service), monkeypatch)


@pytest.mark.parametrize("service", SERVICES)
def test_k8s_pods_run_locked_down(service: str) -> None:
    pod = find("Deployment", service)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    security = container(service)["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    mounts = {m["mountPath"]: m["name"] for m in container(service)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert volumes[mounts["/media"]]["persistentVolumeClaim"]["claimName"] == "media"
    assert container(service)["resources"].keys() == {"requests", "limits"}


@pytest.mark.parametrize("service", WORKERS)
def test_k8s_workers_probe_their_health_and_outlast_their_graceful_timeout(service: str) -> None:
    probe = ["python", "-m", "jobcommon.health", service]
    assert container(service)["livenessProbe"]["exec"]["command"] == probe
    assert container(service)["startupProbe"]["exec"]["command"] == probe
    pod = find("Deployment", service)["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > float(k8s_env(service)["GRACEFUL_TIMEOUT_S"]) + 5


def test_k8s_gateway_is_probed_served_and_kept_available() -> None:
    gateway = container("gateway")
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/jobs/health"
    port = GatewaySettings(gateway_port=int(k8s_env("gateway")["GATEWAY_PORT"])).gateway_port
    assert gateway["ports"] == [{"name": "http", "containerPort": port}]
    allowed = k8s_env("gateway")["GATEWAY_ALLOWED_HOSTS"].split(",")
    assert gateway["readinessProbe"]["httpGet"]["httpHeaders"] == [{"name": "Host", "value": allowed[0]}]
    assert find("Service", "gateway")["spec"]["ports"][0]["targetPort"] == "http"
    assert find("PodDisruptionBudget", "gateway")["spec"]["minAvailable"] == 1
    assert find("Deployment", "gateway")["spec"]["replicas"] >= 2
    assert k8s_env("gateway")["API_KEYS_FILE"].startswith("/etc/mediajobs/")


@pytest.mark.parametrize("service", WORKERS)
def test_k8s_workers_are_scraped_at_their_metrics_port(service: str) -> None:
    """Pods annotated for Prometheus at the port the service serves /metrics on, bound on the pod's address;
    every process logs JSON lines."""
    pod = find("Deployment", service)["spec"]["template"]
    env = k8s_env(service)
    default = SETTINGS[service].model_fields["metrics_port"].default
    port = int(env.get("METRICS_PORT", default))
    assert port > 0
    assert pod["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port),
        "prometheus.io/path": "/metrics",
    }
    assert {"name": "metrics", "containerPort": port} in container(service)["ports"]
    assert env["METRICS_HOST"] == "0.0.0.0"
    assert env["LOG_FORMAT"] == "json"
    assert k8s_env("gateway")["LOG_FORMAT"] == "json"


def test_k8s_redis_is_persistent_and_media_is_shared() -> None:
    conf = find("ConfigMap", "redis-config")["data"]["redis.conf"]
    for line in (
        "appendonly yes",
        "appendfsync everysec",
        "maxmemory-policy noeviction",
        "hash-max-listpack-value 1024",
    ):
        assert line in conf.splitlines()
    redis = find("StatefulSet", "redis")["spec"]
    assert redis["template"]["spec"]["containers"][0]["image"].startswith("redis:7")
    assert redis["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert find("ConfigMap", "mediajobs-config")["data"]["REDIS_URL"] == "redis://redis:6379/0"
    assert find("PersistentVolumeClaim", "media")["spec"]["accessModes"] == ["ReadWriteMany"]


# ---- the health checks and the compose keys file, run for real (without containers) ----------------------


def gateway_healthcheck() -> list[str]:
    """The gateway image's HEALTHCHECK command (exec form), as the Dockerfile states it."""
    match = re.search(r"HEALTHCHECK [^\n]*\\\n\s+CMD (\[.*\])", dockerfile_stages()["gateway"])
    assert match
    command: list[str] = json.loads(match.group(1))
    return command


async def test_the_gateway_images_health_check_passes_on_a_running_gateway_with_composes_keys(
    cluster: Cluster, tmp_path: Path
) -> None:
    """The HEALTHCHECK of the gateway image exits 0 against a gateway started with the keys file `task up`
    writes (deploy/compose/keys.py: digests only), and non-zero when nothing answers."""
    spec = importlib.util.spec_from_file_location("compose_keys", ROOT / "deploy" / "compose" / "keys.py")
    assert spec is not None
    assert spec.loader is not None
    compose_keys = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compose_keys)
    keys_file = tmp_path / "compose" / "api-keys.json"
    key, created = compose_keys.provision(tmp_path / "var", keys_file)
    assert created
    assert key not in keys_file.read_text()
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o644  # readable by the container's uid: digests only
    entries = json.loads(keys_file.read_text())
    port = str(free_port())
    command = [sys.executable, *gateway_healthcheck()[1:]]
    env = {**os.environ, "GATEWAY_PORT": port}

    def healthy() -> bool:
        return subprocess.run(command, env=env, capture_output=True, check=False, timeout=30).returncode == 0

    assert not await asyncio.to_thread(healthy)
    gateway = cluster.start(
        "gateway", GATEWAY_PORT=port, API_KEYS_FILE=str(keys_file), GATEWAY_HOST="0.0.0.0"
    )
    deadline = time.monotonic() + 30
    while not await asyncio.to_thread(healthy):
        assert gateway.alive(), gateway.output()
        assert time.monotonic() < deadline, gateway.output()
        await asyncio.sleep(0.3)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=bearer(key)) as api:
        listed = await api.get("/keys")
    assert listed.status_code == 200, listed.text
    assert entries[0]["name"] in listed.text


def test_the_janitor_reads_a_schedules_file_in_compose_and_kubernetes(tmp_path: Path) -> None:
    from janitor.periodic import read_schedules_file

    assert compose_env("janitor")["SCHEDULES_FILE"] == "/run/configs/schedules.toml"
    spec = compose()["services"]["janitor"]
    assert {"source": "schedules", "target": "/run/configs/schedules.toml"} in spec["configs"]
    default = compose()["configs"]["schedules"]["file"].split(":-", 1)[1].rstrip("}")
    assert read_schedules_file(ROOT / default) == []
    assert k8s_env("janitor")["SCHEDULES_FILE"] == "/etc/mediajobs/schedules.toml"
    mounts = {m["name"]: m["mountPath"] for m in container("janitor")["volumeMounts"]}
    assert mounts["schedules"] == "/etc/mediajobs"
    volumes = find("Deployment", "janitor")["spec"]["template"]["spec"]["volumes"]
    (source,) = [v["configMap"]["name"] for v in volumes if v["name"] == "schedules"]
    data = find("ConfigMap", source)["data"]["schedules.toml"]
    path = tmp_path / "schedules.toml"
    path.write_text(data)
    assert read_schedules_file(path) == []
