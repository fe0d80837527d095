# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The control API: health, images, faults, request log, config, blob deletion, reset."""

import json

from .common import ACCOUNT_ID
from .common import CONTROL_PREFIX
from .common import MAX_URL_TTL
from .common import control_response


class ControlApi:
    """The control API under /_emulator/ (tests/emulator/README.md, "Control API"); a part of EmulatorApp."""

    def _control(self, request):
        route = request.path[len(CONTROL_PREFIX) :].rstrip("/") or "/"
        method = request.method
        try:
            body = json.loads(request.get_data() or b"null") if method in ("POST", "PUT") else None
        except ValueError:
            return control_response({"error": "the request body is not JSON"}, 400)
        routes = {
            ("/health", "GET"): lambda: {"ok": True},
            ("/images", "GET"): self.images,
            ("/faults", "GET"): self.faults.list,
            ("/faults", "POST"): lambda: self._add_fault(body),
            ("/faults", "DELETE"): lambda: self.faults.clear() or {"ok": True},
            ("/requests", "GET"): self.log.list,
            ("/requests", "DELETE"): lambda: self.log.clear() or {"ok": True},
            ("/config", "GET"): self.get_config,
            ("/config", "POST"): lambda: self.set_config(body),
            ("/blobs/delete", "POST"): lambda: self._delete_blob(body),
            ("/reset", "POST"): self.reset,
        }
        handler = routes.get((route, method))
        if handler is None:
            known = sorted({path for path, _method in routes})
            if route in known:
                return control_response({"error": f"method {method} not allowed on {CONTROL_PREFIX}{route}"}, 405)
            return control_response(
                {"error": f"unknown control path {request.path}", "paths": [CONTROL_PREFIX + path for path in known]},
                404,
            )
        try:
            return control_response(handler())
        except ValueError as exc:
            return control_response({"error": str(exc)}, 400)
        except LookupError as exc:
            return control_response({"error": str(exc.args[0]) if exc.args else "not found"}, 404)

    def _add_fault(self, body):
        rule = self.faults.add(body)
        return {"id": rule["id"], "rule": rule}

    def get_config(self):
        with self._config_lock:
            config = dict(self.config)
        config.update(
            region=self.region, account_id=ACCOUNT_ID, auth=self.auth, bucket=self.bucket, endpoint=self.endpoint
        )
        return config

    def set_config(self, body):
        if not isinstance(body, dict):
            raise ValueError('expected a JSON object such as {"url_ttl": 60}')
        unknown = sorted(set(body) - {"url_ttl"})
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(unknown)}")
        if "url_ttl" in body:
            ttl = body["url_ttl"]
            if not isinstance(ttl, int) or isinstance(ttl, bool) or not 1 <= ttl <= MAX_URL_TTL:
                raise ValueError(f"'url_ttl' must be an integer from 1 to {MAX_URL_TTL}")
            with self._config_lock:
                self.config["url_ttl"] = ttl
        return self.get_config()

    def reset(self):
        self.faults.clear()
        self.log.clear()
        with self._config_lock:
            self.config = dict(self.startup_config)
        return {"ok": True}

    def _delete_blob(self, body):
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("repository"), str)
            or not isinstance(body.get("digest"), str)
        ):
            raise ValueError('expected {"repository": NAME, "digest": DIGEST}')
        key = self.blob_key(body["repository"], body["digest"])
        with self.lock:
            if self.s3.get_object(self.bucket, key) is None:
                raise LookupError(f"no blob stored at s3://{self.bucket}/{key}")
            self.s3.delete_object(self.bucket, key)
        return {"ok": True, "bucket": self.bucket, "key": key}

    def images(self):
        """Every image of every repository, with what its manifest references."""
        result = []
        with self.lock:
            repositories = list(self.ecr.repositories.values())
            for repository in repositories:
                for image in list(repository.images):
                    info = self.manifest_info(image)
                    item = {
                        "repository": repository.name,
                        "registry_id": repository.registry_id,
                        "tags": list(image.image_tags),
                        "image_digest": image.image_digest,
                        "media_type": image.image_manifest_media_type,
                        "manifest_size": len(image.image_manifest.encode("utf-8")),
                        "pushed_at": image.image_pushed_at,
                    }
                    if info["kind"] == "index":
                        item["manifests"] = [dict(child) for child in info["manifests"]]
                    else:
                        item["config"] = dict(info["config"]) if info["config"] else None
                        item["layers"] = [dict(layer) for layer in info["layers"]]
                    result.append(item)
        return result
