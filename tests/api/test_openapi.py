"""The OpenAPI document is a contract: our error body and real statuses on every operation, the API
key declared as the server checks it, every schema and field described, job params discriminated by
kind, and examples that the server accepts."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from service.jobs.kinds import JOB_KINDS
from tests.api.conftest import Trained
from tests.api.contract import METHODS, Seen, template_of, undocumented

ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}


@pytest.fixture(scope="module")
def spec(anonymous: httpx.Client) -> dict[str, Any]:
    response = anonymous.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def each_operation(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_a_status_seen_but_not_documented_is_reported() -> None:
    """The check tests/api/conftest.py runs over the whole session can fail."""
    spec = {
        "paths": {
            "/v1/jobs/{job_id}": {"get": {"responses": {"200": {}, "404": {}}}},
            "/v1/jobs/{job_id}/cancel": {"post": {"responses": {"200": {}}}},
        }
    }
    seen = [
        Seen("get", "/v1/jobs/abc", 404, "t1"),
        Seen("get", "/v1/jobs/abc", 418, "t2"),
        Seen("get", "/v1/jobs/abc", 418, "t3"),  # reported once, with the first test that saw it
        Seen("post", "/v1/jobs/abc/cancel", 409, "t4"),
        Seen("get", "/v1/nowhere", 404, "t5"),  # no operation's
        Seen("delete", "/v1/jobs/abc", 405, "t6"),  # a method the path does not document
    ]
    assert undocumented(seen, spec) == [
        "GET /v1/jobs/{job_id} answered 418 (first in t2)",
        "POST /v1/jobs/{job_id}/cancel answered 409 (first in t4)",
    ]
    assert template_of("/v2/models/m/ready", ["/v2/models/{name}", "/v2/models/{name}/ready"]) == (
        "/v2/models/{name}/ready"
    )
    assert template_of("/v1/jobs/x", ["/v1/jobs/{job_id}", "/v1/jobs/x"]) == "/v1/jobs/x"


def test_errors_are_documented_in_the_shape_the_server_sends(spec: dict[str, Any]) -> None:
    text = json.dumps(spec)
    assert "HTTPValidationError" not in text and '"detail"' not in text  # FastAPI's, never sent
    body = spec["components"]["schemas"]["ErrorBody"]
    detail = spec["components"]["schemas"]["ErrorDetail"]
    assert body["required"] == ["error"] and set(detail["required"]) == {"code", "message"}
    for method, path, operation in each_operation(spec):
        responses = operation["responses"]
        assert "500" in responses, (method, path)
        for status, response in responses.items():
            if not status.startswith(("4", "5")) or (path in ("/readyz", "/v2/health/ready") and status == "503"):
                continue
            schema = response["content"]["application/json"]["schema"]
            if path.startswith("/v2"):
                assert schema == {"$ref": "#/components/schemas/V2Error"}, (method, path, status)
            else:
                assert schema == ERROR_BODY, (method, path, status)
    validated = spec["paths"]["/v1/jobs"]
    assert "422" in validated["post"]["responses"] and "422" in validated["get"]["responses"]  # offset, limit
    assert "422" not in spec["paths"]["/v1/jobs/{job_id}"]["get"]["responses"]  # a path segment always parses
    assert {"408", "413"} <= set(spec["paths"]["/v1/models"]["post"]["responses"])
    # V2 routes document the V2 errors they can send, and only those.
    assert not {"400", "404"} & set(spec["paths"]["/v2/health/live"]["get"]["responses"])
    assert "404" in spec["paths"]["/v2/models/{name}"]["get"]["responses"]


def test_a_refusal_matches_the_documented_error_body(spec: dict[str, Any], anonymous: httpx.Client) -> None:
    detail = spec["components"]["schemas"]["ErrorDetail"]
    codes = set(spec["components"]["schemas"][detail["properties"]["code"]["$ref"].rsplit("/", 1)[1]]["enum"])
    body = anonymous.get("/v1/jobs", params={"limit": 0}).json()
    assert set(body) == {"error"} and set(body["error"]) == set(detail["properties"])
    assert body["error"]["code"] in codes


def test_the_api_key_is_declared_as_the_server_checks_it(spec: dict[str, Any], anonymous: httpx.Client) -> None:
    """Operations marked as needing the key answer 401 without it; those marked optional (needed
    only with MODA_AUTH=all) and the open probes do not."""
    scheme = spec["components"]["securitySchemes"]["bearer"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    required = []
    for method, path, operation in each_operation(spec):
        url = re.sub(r"\{\w+\}", "no-such-id", path)
        status = anonymous.request(method, url).status_code
        if operation["security"] == [{"bearer": []}]:
            required.append((method, path))
            assert status == 401 and "401" in operation["responses"], (method, path, status)
        else:
            assert operation["security"] in ([{}, {"bearer": []}], []), (method, path)
            assert status != 401, (method, path)
    assert set(required) >= {
        ("post", "/v1/jobs"),
        ("post", "/v1/jobs/{job_id}/cancel"),
        ("post", "/v1/models"),
        ("post", "/v1/compositions"),
        ("post", "/v1/predict"),
    }
    probes = [p for p in ("/healthz", "/readyz", "/v2/health/live", "/v2/health/ready") if p in spec["paths"]]
    assert all(spec["paths"][p]["get"]["security"] == [] for p in probes)


def _undescribed(name: str, schema: dict[str, Any]) -> list[str]:
    missing = [] if schema.get("description") or name.startswith("Body_") else [name]
    return missing + [
        f"{name}.{field}" for field, s in schema.get("properties", {}).items() if not s.get("description")
    ]


def test_every_schema_and_field_is_described(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    assert [gap for name, schema in schemas.items() for gap in _undescribed(name, schema)] == []


def test_job_params_are_a_union_discriminated_by_kind(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    create = schemas["JobCreate"]
    mapping = create["discriminator"]["mapping"]
    assert create["discriminator"]["propertyName"] == "kind"
    assert set(mapping) == {name for name, kind in JOB_KINDS.items() if kind.submitted_at is None}
    assert set(mapping) | {"ingest"} == set(JOB_KINDS)  # ingest comes from POST /v1/models
    assert sorted(one["$ref"] for one in create["oneOf"]) == sorted(mapping.values())
    for name, ref in mapping.items():
        variant = schemas[ref.rsplit("/", 1)[1]]
        assert variant["properties"]["kind"]["const"] == name
        params_ref = variant["properties"]["params"]["$ref"]
        assert params_ref.rsplit("/", 1)[1] == JOB_KINDS[name].params.__name__
    assert set(schemas["JobPublic"]["properties"]["kind"]["enum"]) == set(JOB_KINDS)
    results = {one.get("$ref", "").rsplit("/", 1)[-1] for one in schemas["JobPublic"]["properties"]["result"]["anyOf"]}
    assert {kind.result.__name__ for kind in JOB_KINDS.values()} <= results


def test_a_job_leaves_the_result_its_kind_documents(trained: Trained) -> None:
    JOB_KINDS["train"].result.model_validate(trained.job["result"])


def test_the_examples_are_requests_the_server_accepts(
    spec: dict[str, Any], client: httpx.Client, composition: dict[str, Any]
) -> None:
    schemas = spec["components"]["schemas"]
    (train,) = schemas["JobCreate"]["examples"]
    assert train["kind"] == "train"
    # The train example, checked as POST /v1/jobs checks it, but not queued: a kind's params model.
    JOB_KINDS["train"].params.model_validate(train["params"])
    assert schemas["CompositionCreate"]["examples"] and schemas["ComposePredictRequest"]["examples"]
    (predict,) = schemas["PredictRequest"]["examples"]
    response = client.post(f"/v1/compositions/{composition['id']}/predict", json=predict)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["label"] == "0"  # the example is a zero, and classifies so
    (infer,) = schemas["InferRequestBody"]["examples"]
    response = client.post(f"/v2/models/{composition['id']}/infer", json=infer)
    assert response.status_code == 200, response.text
    probabilities = next(o for o in response.json()["outputs"] if o["name"] == "probabilities")["data"]
    assert probabilities.index(max(probabilities)) == 0  # the same zero: the composition's first class, 0
