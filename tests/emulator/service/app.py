# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The WSGI application: state, dispatch to the control API, ECR and S3, and moto underneath."""

import io
import os
import threading
import traceback

import botocore.session
from botocore.config import Config
from moto import settings as moto_settings
from moto.ecr.models import ecr_backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.moto_server.werkzeug_app import create_backend_app
from moto.s3.models import s3_backends
from werkzeug.wrappers import Request
from werkzeug.wrappers import Response

from .common import ACCOUNT_ID
from .common import CONTROL_PREFIX
from .common import DEFAULT_REGION
from .common import DEFAULT_URL_TTL
from .common import ECR_TARGET_PREFIX
from .common import RequestLog
from .common import control_response
from .control import ControlApi
from .credentials import INTERNAL_ACCESS_KEY
from .credentials import INTERNAL_SECRET_KEY
from .ecr_api import EcrApi
from .ecr_images import EcrImages
from .faults import FaultTable
from .manifests import describe_manifest
from .s3 import S3Api


class EmulatorApp(ControlApi, EcrApi, EcrImages, S3Api):
    """The WSGI application: control API, ECR (own handlers + moto), S3 (pre-signed blob GETs + moto)."""

    def __init__(self, region=DEFAULT_REGION, url_ttl=DEFAULT_URL_TTL, auth=False):
        # moto's own IAM authorization must stay off whatever the environment says.
        moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
        os.environ["MOTO_ACCOUNT_ID"] = ACCOUNT_ID
        self.region = region
        self.auth = auth
        self.bucket = f"ecr-layers-{ACCOUNT_ID}-{region}"
        self.startup_config = {"url_ttl": url_ttl}
        self.config = dict(self.startup_config)
        self.endpoint = None
        self.log = RequestLog()
        self.faults = FaultTable()
        # moto's backends are not thread-safe; every use of them goes through this lock.
        self.lock = threading.RLock()
        self._config_lock = threading.Lock()
        self._manifests = {}
        self._presigner = None
        self._moto = DomainDispatcherApplication(create_backend_app)
        with self.lock:
            self.s3.create_bucket(self.bucket, region)

    @property
    def ecr(self):
        return ecr_backends[ACCOUNT_ID][self.region]

    @property
    def s3(self):
        return s3_backends[ACCOUNT_ID]["aws"]

    def bind(self, port):
        """Called once the listening port is known: pre-signed URLs point at it."""
        self.endpoint = f"http://127.0.0.1:{port}"
        session = botocore.session.Session()
        self._presigner = session.create_client(
            "s3",
            region_name=self.region,
            endpoint_url=self.endpoint,
            aws_access_key_id=INTERNAL_ACCESS_KEY,
            aws_secret_access_key=INTERNAL_SECRET_KEY,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    # ------------------------------------------------------------------ dispatch

    def __call__(self, environ, start_response):
        request = Request(environ)
        path = request.path
        try:
            if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
                response = self._control(request)
            elif path.startswith("/moto-api"):
                # moto's own management API could reset state or switch its IAM auth on.
                response = control_response({"error": "not available in the airgap.ecr emulator"}, 404)
            elif request.headers.get("X-Amz-Target", "").startswith(ECR_TARGET_PREFIX):
                response = self._ecr(request)
            else:
                response = self._s3(request)
        except Exception:  # pylint: disable=broad-exception-caught
            traceback.print_exc()
            response = control_response({"error": "internal error in the emulator"}, 500)
        return response(environ, start_response)

    def _call_moto(self, request, body, replace_headers=None):
        """Run one request through moto's server application; return a werkzeug Response."""
        environ = dict(request.environ)
        environ.pop("werkzeug.request", None)
        environ.pop("HTTP_X_MOTO_ACCOUNT_ID", None)
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        for key, value in (replace_headers or {}).items():
            environ[key] = value
        captured = {}
        chunks = []

        def start_response(status, headers, exc_info=None):  # pylint: disable=unused-argument
            captured["status"] = int(status.split(" ", 1)[0])
            captured["headers"] = headers
            return chunks.append

        with self.lock:
            result = self._moto(environ, start_response)
            try:
                for chunk in result:
                    chunks.append(chunk)
            finally:
                if hasattr(result, "close"):
                    result.close()
        skip = {"content-length", "transfer-encoding", "connection", "keep-alive"}
        headers = [(name, value) for name, value in captured.get("headers", []) if name.lower() not in skip]
        return Response(b"".join(chunks), status=captured.get("status", 500), headers=headers)

    # ------------------------------------------------------------------ storage helpers

    @staticmethod
    def blob_key(repository, digest):
        return f"{repository}/{digest}"

    def manifest_info(self, image):
        digest = image.image_digest
        info = self._manifests.get(digest)
        if info is None:
            info = describe_manifest(image.image_manifest)
            self._manifests[digest] = info
        return info

    def blob_exists(self, key):
        with self.lock:
            return self.s3.get_object(self.bucket, key) is not None

    def presign(self, key, ttl):
        return self._presigner.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=ttl
        )
