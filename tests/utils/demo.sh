#!/usr/bin/env bash
# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# make demo: start the local ECR emulator with its demo images, then
#  1. playbooks/fetch_image.yml: the image_fetch role writes an image set, airgap/demo:1.0 (Docker
#     schema 2) and this machine's image of airgap/demo:multi (an OCI index), as one verified OCI image
#     layout in ./demo-out/oci (and an oci-archive, ./demo-out/demo.tar); skopeo shows both;
#  2. playbooks/fetch_layers.yml: ecr_layer_url resolves each blob and get_url downloads it
#     into ./demo-out/layers, verified by digest;
#  3. (as root) playbooks/fetch_image.yml with load=[containerd]: airgap/demo:multi (an OCI image index;
#     the linux/amd64 image) into a containerd started here in a temporary directory, listed by ctr;
# and stop the emulator (and that containerd).
# AIRGAP_VENV names the tool chain's virtual environment when it is not this tree's .venv (make
# artifact runs this script from an installed copy of the collection).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv="${AIRGAP_VENV:-$root/.venv}"
python="$venv/bin/python"
state="$root/tests/emulator/state/demo"
out="$root/demo-out"
export PATH="$venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="${AIRGAP_BUILD:-$root/build}"

"$python" "$root/tests/emulator/harness.py" stop --dir "$state" >/dev/null 2>&1 || true
endpoint=$("$python" "$root/tests/emulator/harness.py" start --dir "$state" --seed-demo)
trap '"$python" "$root/tests/emulator/harness.py" stop --dir "$state"' EXIT
echo "ECR emulator listening on $endpoint"

# The emulator's documented full-access key (tests/emulator/README.md); real ECR would use yours.
eval "$("$python" "$root/tests/emulator/harness.py" credentials)"
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
unset AWS_SESSION_TOKEN AWS_PROFILE

# The blobs the demo image references (on real ECR, read them from the image manifest).
vars="$state/demo-vars.json"
"$python" - "$endpoint" "$vars" <<'PY'
import json, sys, urllib.request
endpoint, path = sys.argv[1:]
with urllib.request.urlopen(endpoint + "/_emulator/images") as response:
    images = json.load(response)
image = next(i for i in images if i["repository"] == "airgap/demo" and "1.0" in i["tags"])
digests = [image["config"]["digest"]] + [layer["digest"] for layer in image["layers"]]
with open(path, "w", encoding="utf-8") as handle:
    json.dump({"repository": "airgap/demo", "layer_digests": digests}, handle)
print(f"demo image airgap/demo:1.0 {image['image_digest']}: config + {len(image['layers'])} layers")
PY

rm -rf "$out"
common=(-i "localhost," -c local -e "aws_region=us-east-1" -e "aws_endpoint_url=$endpoint" -e "ansible_python_interpreter=$python")

echo
echo "== 1. airgap.ecr.fetch_image: an image set as one OCI layout (blobs shared by images fetched once)"
ansible-playbook "${common[@]}" "$root/playbooks/fetch_image.yml" -e "dest=$out/oci" -e "archive=$out/demo.tar" \
  -e '{"images": [{"repository": "airgap/demo", "tag": "1.0"}, {"repository": "airgap/demo", "tag": "multi"}]}' \
  -e platform=linux/amd64 -e allow_http=true "$@"
for ref in 1.0 multi; do
  echo
  echo "skopeo inspect oci:$out/oci:$ref"
  skopeo inspect "oci:$out/oci:$ref"
done

echo
echo "== 2. airgap.ecr.fetch_layers: each blob with ecr_layer_url and get_url"
ansible-playbook "${common[@]}" "$root/playbooks/fetch_layers.yml" -e "@$vars" -e "dest=$out/layers" "$@"

echo
echo "Fetched into $out/layers (each file's name is its sha256; re-checked here):"
(cd "$out/layers/blobs/sha256" && for f in *; do
  printf '%10d  sha256:%s  %s\n' "$(stat -c %s "$f")" "$f" "$(echo "$f  $f" | sha256sum --check --quiet - >/dev/null 2>&1 && echo verified || echo MISMATCH)"
done)

echo
echo "== 3. airgap.ecr.fetch_image with load=[containerd]: into a containerd of its own, listed by ctr"
if [ "$(id -u)" != 0 ] || ! command -v containerd >/dev/null || ! command -v ctr >/dev/null; then
  echo "skipped: it starts containerd, which needs root and the containerd package"
  exit 0
fi
# A containerd with its own root, state and socket in a temporary directory (short: a socket path has a limit).
ctrd=$(mktemp -d /tmp/airgap-demo-XXXXXX)
cat >"$ctrd/config.toml" <<EOF
version = 2
root = "$ctrd/root"
state = "$ctrd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$ctrd/containerd.sock"
[ttrpc]
  address = "$ctrd/containerd.sock.ttrpc"
[debug]
  address = "$ctrd/debug.sock"
EOF
containerd --config "$ctrd/config.toml" >"$ctrd/containerd.log" 2>&1 &
ctrd_pid=$!
trap 'kill "$ctrd_pid" 2>/dev/null; wait "$ctrd_pid" 2>/dev/null; rm -rf "$ctrd"; "$python" "$root/tests/emulator/harness.py" stop --dir "$state"' EXIT
for _ in $(seq 100); do [ -S "$ctrd/containerd.sock" ] && break; sleep 0.2; done
[ -S "$ctrd/containerd.sock" ] || { echo "containerd did not start:" >&2; cat "$ctrd/containerd.log" >&2; exit 1; }
ansible-playbook "${common[@]}" "$root/playbooks/fetch_image.yml" \
  -e repository=airgap/demo -e tag=multi -e "dest=$out/multi" -e allow_http=true \
  -e '{"load": ["containerd"]}' -e "containerd_address=$ctrd/containerd.sock" "$@"
echo
echo "ctr -n k8s.io images ls (the image by its ECR reference and by <repository>@<digest>):"
ctr -a "$ctrd/containerd.sock" -n k8s.io images ls
