"""The sample reviews the README tells a newcomer to curl give the answers it promises."""

from __future__ import annotations

import base64
from pathlib import Path

import jsonpatch
import orjson

from .conftest import SHARED, Server, server_shared_by_module

server = server_shared_by_module()


REVIEWS = Path(__file__).parent / "reviews"


@SHARED
async def test_the_readme_pod_review_is_admitted_with_its_entitlement_labels(
    server: Server,
) -> None:
    review = orjson.loads((REVIEWS / "pod-create.json").read_bytes())
    reply = await server.post("/mutate", review)
    response = reply.json()["response"]
    assert reply.status == 200 and response["allowed"] is True
    assert response["uid"] == review["request"]["uid"]
    patch = orjson.loads(base64.b64decode(response["patch"]))
    labels = jsonpatch.apply_patch(review["request"]["object"], patch)["metadata"]["labels"]
    assert labels == {
        "app": "checkout",
        "egressguard.io/allow-stripe": "true",
        "egressguard.io/allow-partner-api": "true",
        "egressguard.io/allow-pypi": "true",
    }


@SHARED
async def test_the_readme_ungranted_review_is_refused_naming_the_rules_file(
    server: Server,
) -> None:
    review = orjson.loads((REVIEWS / "pod-create-ungranted.json").read_bytes())
    response = (await server.post("/validate", review)).json()["response"]
    assert response["allowed"] is False
    assert "services/shop/cart/api.stripe.com:443.rule" in response["status"]["message"]
    assert "patch" not in response
