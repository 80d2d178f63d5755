"""The KubeRay manifests, checked offline: no cluster, no Ray running.

The RayService must match its sources (serve_config.yaml + the overlay), pass the RayService
CRD's schema without fields the API server would prune, and carry a serveConfigV2 that Ray's
own schema accepts.
"""

import copy
import importlib.metadata
import re
import subprocess
import sys
import typing
from pathlib import Path

import jsonschema
import pytest
import yaml
from packaging.requirements import Requirement
from pydantic import BaseModel

from paleon.tools import kuberay

ROOT = Path(__file__).resolve().parent.parent
# KubeRay's RayService CRD, vendored (Apache-2.0; kuberay/crd/SOURCE.md says from where).
CRD = ROOT / "kuberay" / "crd" / "ray.io_rayservices.yaml"
SENSITIVE = set(kuberay.REQUIRED_SECRETS) | set(kuberay.OPTIONAL_SECRETS)


PROXIES = "10.0.0.0/8"  # the example network the committed manifest is rendered with


def load(path: Path):
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def manifest() -> dict:
    return load(kuberay.MANIFEST)


@pytest.fixture(scope="module")
def schema() -> dict:
    crd = load(CRD)
    (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return v1["schema"]["openAPIV3Schema"]


def serve_config_v2(manifest: dict) -> dict:
    return yaml.safe_load(manifest["spec"]["serveConfigV2"])


def containers(manifest: dict) -> list[dict]:
    cluster = manifest["spec"]["rayClusterConfig"]
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    return [c for group in groups for c in group["template"]["spec"]["containers"]]


def unknown_fields(node, schema: dict, path: str = "") -> list[str]:
    """Paths in `node` that `schema` doesn't declare, which the API server would prune."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    if isinstance(node, dict) and "properties" in schema:
        found = []
        for key, value in node.items():
            where = f"{path}.{key}" if path else key
            if key in schema["properties"]:
                found += unknown_fields(value, schema["properties"][key], where)
            elif not schema.get("additionalProperties"):
                found.append(where)
        return found
    if isinstance(node, dict) and isinstance(schema.get("additionalProperties"), dict):
        return [f for key, value in node.items()
                for f in unknown_fields(value, schema["additionalProperties"], f"{path}.{key}")]
    if isinstance(node, list) and "items" in schema:
        return [f for i, item in enumerate(node)
                for f in unknown_fields(item, schema["items"], f"{path}[{i}]")]
    return []


def unknown_serve_keys(data, model: type[BaseModel], path: str = "") -> list[str]:
    """Keys Ray's Serve schema doesn't know. Ray accepts and ignores them (its models allow
    extra fields for forward compatibility), so a typo such as `num_gpu` would pass silently."""
    found = []
    for key, value in data.items():
        where = f"{path}.{key}" if path else key
        field = model.model_fields.get(key)
        if field is None:
            found.append(where)
            continue
        nested = _model_in(field.annotation)
        if nested and isinstance(value, dict):
            found += unknown_serve_keys(value, nested, where)
        elif nested and isinstance(value, list):
            for item in value:
                found += unknown_serve_keys(item, nested, f"{where}[{item.get('name', '?')}]")
    return found


def _model_in(annotation) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        if model := _model_in(argument):
            return model
    return None


# (a) drift


def test_committed_manifest_is_the_rendered_one(manifest):
    rendered = kuberay.render(load(kuberay.SERVE_CONFIG), load(kuberay.OVERLAY),
                              proxies=PROXIES)
    assert manifest == rendered, "run `python -m paleon.tools.kuberay` and commit the result"
    result = subprocess.run([sys.executable, "-m", "paleon.tools.kuberay", "--check"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_check_fails_on_a_stale_manifest(tmp_path, manifest, capsys):
    # What happens when serve_config.yaml changes (here: Ingress gets autoscaling) and
    # nobody regenerates: the committed text no longer matches.
    serve_config = load(kuberay.SERVE_CONFIG)
    ingress = next(d for d in serve_config["applications"][0]["deployments"]
                   if d["name"] == "Ingress")
    ingress["autoscaling_config"] = {"min_replicas": 1, "max_replicas": 3}
    assert kuberay.render(serve_config, load(kuberay.OVERLAY), proxies=PROXIES) != manifest

    stale = tmp_path / "ray-service.yaml"
    stale.write_text(kuberay.MANIFEST.read_text() + "# edited by hand\n")
    assert kuberay.main(["--check", "--manifest", str(stale)]) == 1
    assert "-# edited by hand" in capsys.readouterr().err


def test_the_load_balancer_network_is_required_and_never_everyone(tmp_path, capsys):
    """Audit round 3: FORWARDED_ALLOW_IPS '' made every client behind the load balancer one
    address (one person's failed logins throttled every login); '*' or a /0 would let anyone
    name their own address."""
    for refused in ("", " , ", "0.0.0.0/0", "::/0", "*", "lb.internal"):
        with pytest.raises(ValueError, match="--trusted-proxies"):
            kuberay.trusted_proxies(refused)
    assert kuberay.trusted_proxies("10.0.0.0/8, fd00::/8") == "10.0.0.0/8,fd00::/8"
    out = tmp_path / "m.yaml"
    with pytest.raises(SystemExit):
        kuberay.main(["--manifest", str(out)])  # no network named
    assert "name the load balancer's network" in capsys.readouterr().err
    assert kuberay.main(["--manifest", str(out), "--trusted-proxies", "172.16.0.0/12"]) == 0
    assert kuberay.proxies_in(out) == "172.16.0.0/12"
    assert all({"name": "FORWARDED_ALLOW_IPS", "value": "172.16.0.0/12"} in c["env"]
               for c in containers(load(out)))


def test_overlay_naming_a_missing_deployment_is_an_error():
    overlay = {"applications": [{"name": "paleon", "deployments": [{"name": "Classifier"}]}]}
    with pytest.raises(ValueError, match="Classifier"):
        kuberay.render(load(kuberay.SERVE_CONFIG), overlay, proxies=PROXIES)


# (b) the CRD


def test_manifest_matches_the_rayservice_crd(manifest, schema):
    jsonschema.Draft7Validator(schema).validate(manifest)
    assert unknown_fields(manifest["spec"], schema["properties"]["spec"], "spec") == []


def test_crd_checks_catch_a_typo_and_a_wrong_type(manifest, schema):
    typo = copy.deepcopy(manifest)
    typo["spec"]["rayClusterConfig"]["enableInTreeAutoscalin"] = True
    assert unknown_fields(typo["spec"], schema["properties"]["spec"], "spec") == [
        "spec.rayClusterConfig.enableInTreeAutoscalin"]

    wrong_type = copy.deepcopy(manifest)
    wrong_type["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["maxReplicas"] = "4"
    with pytest.raises(jsonschema.ValidationError, match="'4' is not of type 'integer'"):
        jsonschema.Draft7Validator(schema).validate(wrong_type)


# (c) serveConfigV2


def test_serve_config_v2_parses_with_rays_schema(manifest):
    from ray.serve.schema import ServeDeploySchema

    from deployments.app import AppArgs

    config = serve_config_v2(manifest)
    parsed = ServeDeploySchema.model_validate(config)
    assert unknown_serve_keys(config, ServeDeploySchema) == []
    (app,) = parsed.applications
    assert set(app.args) <= set(AppArgs.model_fields)  # build_app would ignore a misspelt arg
    AppArgs.model_validate(app.args)


def test_serve_config_v2_is_the_cluster_variant(manifest):
    config = serve_config_v2(manifest)
    # KubeRay's serve Service and worker readiness probe use port 8000 on the Pod's address.
    assert config["http_options"]["host"] == "0.0.0.0"
    assert config["http_options"].get("port", 8000) == 8000
    assert config["proxy_location"] == "EveryNode"
    (app,) = config["applications"]
    assert app["args"]["device"] == "cuda"
    classifier = next(d for d in app["deployments"] if d["name"] == "VisionClassifier")
    assert classifier["ray_actor_options"]["num_gpus"] == 1


def test_unknown_serve_keys_catches_a_typo(manifest):
    from ray.serve.schema import ServeDeploySchema

    config = serve_config_v2(manifest)
    classifier = next(d for d in config["applications"][0]["deployments"]
                      if d["name"] == "VisionClassifier")
    classifier["ray_actor_options"]["num_gpu"] = 1
    assert unknown_serve_keys(config, ServeDeploySchema) == [
        "applications[paleon].deployments[VisionClassifier].ray_actor_options.num_gpu"]


# (d) one Ray version


def test_ray_versions_agree(manifest):
    installed = importlib.metadata.version("ray")
    dockerfile = re.search(r"^ARG RAY_VERSION=(\S+)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert dockerfile, "the Dockerfile's base tag comes from ARG RAY_VERSION"
    assert manifest["spec"]["rayClusterConfig"]["rayVersion"] == installed == dockerfile[1]
    pyproject = (ROOT / "pyproject.toml").read_text()
    (pin,) = [Requirement(line.strip().strip('",')) for line in pyproject.splitlines()
              if line.strip().startswith('"ray[')]
    assert pin.specifier.contains(installed)


def test_image_tag_is_the_project_version(manifest):
    images = {c["image"] for c in containers(manifest)}
    version = kuberay.project_version()
    assert images == {f"{kuberay.IMAGE_REPOSITORY}:{version}",
                      f"{kuberay.IMAGE_REPOSITORY}:{version}-gpu"}
    assert re.search(r"^ENV HF_HUB_OFFLINE=1", (ROOT / "Dockerfile").read_text(), re.M)


# (e) secrets, resources, placement


def test_every_container_takes_its_secrets_from_the_secret(manifest):
    for container in containers(manifest):
        env = {e["name"]: e for e in container["env"]}
        assert set(env) >= SENSITIVE, container["name"]
        for name in SENSITIVE:
            assert "value" not in env[name], f"{name} is a literal in {container['name']}"
            ref = env[name]["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == (kuberay.SECRET, name)
            assert ref.get("optional", False) == (name in kuberay.OPTIONAL_SECRETS)
        assert env["ENVIRONMENT"]["value"] == "production"


def test_every_container_has_requests_and_limits(manifest):
    autoscaler = manifest["spec"]["rayClusterConfig"]["autoscalerOptions"]
    for container in [*containers(manifest), autoscaler]:
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][kind]), (container, kind)


def test_placement(manifest):
    cluster = manifest["spec"]["rayClusterConfig"]
    assert cluster["enableInTreeAutoscaling"] is True
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    gpu = [g for g in cluster["workerGroupSpecs"]
           if g["template"]["spec"]["containers"][0]["resources"]["limits"].get("nvidia.com/gpu")]
    assert len(gpu) == 1 and gpu[0]["rayStartParams"]["num-gpus"] == "1"
    for group in cluster["workerGroupSpecs"]:
        assert 0 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]


# (f) Redis and Milvus


def test_redis_manifest():
    documents = list(yaml.safe_load_all((ROOT / "kuberay" / "redis.yaml").read_text()))
    kinds = {d["kind"]: d for d in documents}
    assert set(kinds) == {"PersistentVolumeClaim", "Deployment", "Service"}
    (redis,) = kinds["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert {"requests", "limits"} <= set(redis["resources"])
    assert "--appendonly" in redis["args"]
    for variable in redis["env"]:
        assert variable["valueFrom"]["secretKeyRef"]["name"] == kuberay.SECRET


def test_milvus_values_are_standalone():
    values = load(ROOT / "kuberay" / "milvus-values.yaml")
    assert values["cluster"]["enabled"] is False
    assert values["pulsarv3"]["enabled"] is False and values["pulsar"]["enabled"] is False
    assert values["standalone"]["resources"]["limits"]
