# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Local Amazon ECR + S3 emulator for the airgap.ecr tests.

    python tests/emulator/server.py --port-file PATH [--port 0] [--seed-demo] [--auth]
                                    [--region us-east-1] [--url-ttl 3600] [--verbose]

One port (on 127.0.0.1) serves the ECR JSON API, S3, and a small control API under
``/_emulator/``. Storage is moto's (ECR repositories and images in moto's ECR backend,
layer/config blobs as objects in a moto S3 bucket); this module wraps moto's server
application in a WSGI middleware that implements what moto lacks or gets wrong for a
client that pushes and pulls images:

* image digests are the sha256 of the exact manifest bytes (PutImage, BatchGetImage,
  DescribeImages, ListImages, lookups by digest);
* CompleteLayerUpload checks the uploaded bytes against the given digest and stores the
  blob in S3; PutImage checks that the blobs / child manifests it references exist;
* GetDownloadUrlForLayer returns a real SigV4 pre-signed S3 URL on this host:port, whose
  signature and expiry are enforced when it is fetched, with Range support;
* optional SigV4 verification of every ECR request against a fixed set of credentials;
* fault injection, a request log, and the control API.

See README.md beside this file.
"""

import argparse
import os
import signal
import sys
import threading
import time

import botocore.session
import images
from botocore.config import Config
from moto.moto_server.werkzeug_app import MotoRequestHandler
from service.app import EmulatorApp
from service.common import DEFAULT_REGION
from service.common import DEFAULT_URL_TTL
from service.common import MAX_URL_TTL
from service.credentials import FULL_ACCESS
from werkzeug.serving import make_server


class QuietRequestHandler(MotoRequestHandler):
    """moto's request handler (keeps underscored header names), without werkzeug's per-request log line."""

    verbose = False

    def log_request(self, code="-", size="-"):
        if self.verbose:
            super().log_request(code, size)


def seed_demo(app):
    """Push airgap/demo:1.0 and airgap/demo:multi through the ECR API over HTTP, as a client would.

    Returns ``{tag: what images.push_demo / images.push_demo_multi returned}``.
    """
    session = botocore.session.Session()
    client = session.create_client(
        "ecr",
        region_name=app.region,
        endpoint_url=app.endpoint,
        aws_access_key_id=FULL_ACCESS["aws_access_key_id"],
        aws_secret_access_key=FULL_ACCESS["aws_secret_access_key"],
        config=Config(retries={"total_max_attempts": 1}),
    )
    try:
        return {images.DEMO_TAG: images.push_demo(client), images.DEMO_MULTI_TAG: images.push_demo_multi(client)}
    finally:
        client.close()


def write_port_file(path, port):
    directory = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with open(temporary, "w", encoding="ascii") as handle:
        handle.write(f"{port}\n")
    os.replace(temporary, path)


def isolate_aws_environment():
    """Keep the user's AWS configuration out of the emulator's own botocore clients."""
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_ECR",
        "INITIAL_NO_AUTH_ACTION_COUNT",
    ):
        os.environ.pop(name, None)
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Local Amazon ECR + S3 emulator (moto based) for the airgap.ecr tests."
    )
    parser.add_argument("--port-file", required=True, help="write the listening port here (atomically) once ready")
    parser.add_argument("--port", type=int, default=0, help="port to listen on, on 127.0.0.1 (0: any free port)")
    parser.add_argument(
        "--seed-demo", action="store_true", help="push airgap/demo:1.0 and airgap/demo:multi before announcing the port"
    )
    parser.add_argument(
        "--auth", action="store_true", help="verify SigV4 on every ECR request against the emulator's credentials"
    )
    parser.add_argument("--region", default=DEFAULT_REGION, help="the registry's region (default %(default)s)")
    parser.add_argument(
        "--url-ttl",
        type=int,
        default=DEFAULT_URL_TTL,
        help="lifetime in seconds of the pre-signed layer URLs (default %(default)s)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every HTTP request to stderr")
    args = parser.parse_args(argv)
    regions = botocore.session.Session().get_available_regions("ecr")
    if args.region not in regions:
        parser.error(f"--region must be one of {', '.join(sorted(regions))}")
    if not 1 <= args.url_ttl <= MAX_URL_TTL:
        parser.error(f"--url-ttl must be from 1 to {MAX_URL_TTL}")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    isolate_aws_environment()
    stop = threading.Event()

    def request_stop(signum, frame):  # pylint: disable=unused-argument
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    app = EmulatorApp(region=args.region, url_ttl=args.url_ttl, auth=args.auth)
    QuietRequestHandler.verbose = args.verbose
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=QuietRequestHandler)
    app.bind(server.server_port)
    thread = threading.Thread(target=server.serve_forever, name="emulator-http", daemon=True)
    thread.start()
    try:
        if args.seed_demo:
            started = time.monotonic()
            pushed = seed_demo(app)
            app.log.clear()
            elapsed = time.monotonic() - started
            seeded = ", ".join(
                f"{images.DEMO_REPOSITORY}:{tag} {image['image_digest']}" for tag, image in pushed.items()
            )
            print(f"seeded {seeded} in {elapsed:.2f}s", file=sys.stderr, flush=True)
        write_port_file(args.port_file, server.server_port)
        print(
            f"airgap.ecr emulator listening on {app.endpoint} (region {args.region}, auth "
            f"{'on' if args.auth else 'off'})",
            file=sys.stderr,
            flush=True,
        )
        while not stop.wait(0.5):
            pass
    finally:
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
