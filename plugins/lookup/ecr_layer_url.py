# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: ecr_layer_url
version_added: 0.1.0
short_description: Pre-signed download URLs of Amazon ECR image layers, on the controller
description:
  - Returns, for each layer digest given as a term, the pre-signed Amazon S3 URL from which the layer can be
    downloaded without AWS credentials, by calling ECR's C(GetDownloadUrlForLayer) on the controller.
  - The same validation, retries, concurrency, checks of ECR's answer and error messages as the
    M(airgap.ecr.ecr_layer_url) module.
  - A URL is a bearer credential until it expires (about an hour); keep it out of logs (C(no_log=true)).
  - Lookups are evaluated on every use of the variable that holds them; to call ECR once, set a fact, or
    use the module with C(run_once=true).
author:
  - airgap.ecr maintainers (@airgap-ecr)
options:
  _terms:
    description:
      - Layer (or config blob) digests, C(sha256:) followed by 64 lowercase hexadecimal characters.
      - A list given as a term is expanded.
    required: true
    type: list
    elements: str
extends_documentation_fragment:
  - airgap.ecr.ecr_request
  - amazon.aws.boto3
  - amazon.aws.common.plugins
  - amazon.aws.region.plugins
"""

EXAMPLES = r"""
- name: Render a download script for a host that has curl but no Ansible Python
  ansible.builtin.copy:
    dest: /srv/fetch-layer.sh
    mode: "0700"
    content: |
      curl -fsSo layer.tar.gz {{ layer_url | quote }}
      echo {{ (layer_digest[7:] ~ "  layer.tar.gz") | quote }} | sha256sum -c
  vars:
    # "| quote" above: a URL (or any value) put into a shell command is quoted for the shell
    layer_url: "{{ lookup('airgap.ecr.ecr_layer_url', layer_digest, repository='team/app', region='eu-west-1') }}"
  no_log: true

- name: Several URLs at once, as a list
  ansible.builtin.set_fact:
    layer_urls: "{{ query('airgap.ecr.ecr_layer_url', *app_layer_digests, repository='team/app') }}"
  no_log: true
"""

RETURN = r"""
_raw:
  description:
    - One pre-signed download URL for each term, in the order of the terms.
  type: list
  elements: str
"""

from ansible.errors import AnsibleLookupError
from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.plugin_utils.lookup import AWSLookupBase

from ansible_collections.airgap.ecr.plugins.module_utils.ecr import ecr_client
from ansible_collections.airgap.ecr.plugins.module_utils.ecr import layer_urls
from ansible_collections.airgap.ecr.plugins.module_utils.ecr_request import validate_ecr_request
from ansible_collections.airgap.ecr.plugins.module_utils.redaction import redact
from ansible_collections.airgap.ecr.plugins.module_utils.validation import ValidationError


def flattened(terms):
    """Terms with one level of lists expanded, so that a list variable can be given as one term."""
    result = []
    for term in terms:
        if isinstance(term, (list, tuple)):
            result.extend(term)
        else:
            result.append(term)
    return result


class LookupModule(AWSLookupBase):
    def run(self, terms, variables=None, **kwargs):
        super().run(terms, variables, **kwargs)
        terms = flattened(terms)
        options = {name: self.get_option(name) for name in ("repository", "registry_id", "concurrency")}
        try:
            request = validate_ecr_request(dict(options, digests=terms), digests_option="terms")
        except ValidationError as e:
            raise AnsibleLookupError(f"airgap.ecr.ecr_layer_url: {e}") from None
        allow_http = bool(self.get_option("endpoint_url"))
        try:
            layers = layer_urls(
                ecr_client(self, request.concurrency), request, region=self.region, allow_http=allow_http
            )
        except AnsibleAWSError as e:
            secrets = [self.get_option(name) for name in ("access_key", "secret_key", "session_token")]
            raise AnsibleLookupError(redact(e.message, secrets)) from None
        urls = {layer["layer_digest"]: layer["download_url"] for layer in layers}
        return [urls[digest] for digest in terms]
