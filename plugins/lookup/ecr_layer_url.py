# -*- coding: utf-8 -*-

# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: ecr_layer_url
version_added: 0.1.0
short_description: Pre-signed download URLs of Amazon ECR image layers, on the controller
description:
  - Returns, for each layer digest given as a term, the pre-signed Amazon S3 URL from which the layer can be
    downloaded without AWS credentials, by calling ECR's C(GetDownloadUrlForLayer) on the controller.
  - The same validation, retries, concurrency and error messages as the M(airgap.ecr.ecr_layer_url) module.
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
  repository:
    description: Name of the ECR repository, for example C(team/app).
    type: str
    required: true
  registry_id:
    description: The 12-digit AWS account id of the registry; the caller's account when omitted.
    type: str
  concurrency:
    description: How many requests may be in flight at once (1 to 64).
    type: int
    default: 8
extends_documentation_fragment:
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
      curl -fsSo layer.tar.gz '{{ lookup("airgap.ecr.ecr_layer_url", layer_digest, repository="team/app", region="eu-west-1") }}'
      echo '{{ layer_digest[7:] }}  layer.tar.gz' | sha256sum -c
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

from ansible_collections.amazon.aws.plugins.plugin_utils.lookup import AWSLookupBase

from ansible_collections.airgap.ecr.plugins.module_utils.ecr import MAX_CONCURRENCY
from ansible_collections.airgap.ecr.plugins.module_utils.ecr import describe_failures
from ansible_collections.airgap.ecr.plugins.module_utils.ecr import ecr_client
from ansible_collections.airgap.ecr.plugins.module_utils.ecr import resolve_layer_urls
from ansible_collections.airgap.ecr.plugins.module_utils.validation import ValidationError
from ansible_collections.airgap.ecr.plugins.module_utils.validation import unique_digests
from ansible_collections.airgap.ecr.plugins.module_utils.validation import validate_concurrency
from ansible_collections.airgap.ecr.plugins.module_utils.validation import validate_registry_id
from ansible_collections.airgap.ecr.plugins.module_utils.validation import validate_repository


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
        try:
            repository = validate_repository(self.get_option("repository"))
            registry_id = validate_registry_id(self.get_option("registry_id"))
            terms = flattened(terms)
            digests = unique_digests(terms, option="terms")
            concurrency = validate_concurrency(self.get_option("concurrency"), maximum=MAX_CONCURRENCY)
        except ValidationError as e:
            raise AnsibleLookupError(f"airgap.ecr.ecr_layer_url: {e}") from None

        client = ecr_client(self, concurrency=concurrency)
        layers, failures = resolve_layer_urls(client, repository, digests, registry_id, concurrency)
        if failures:
            raise AnsibleLookupError(describe_failures(failures, repository, len(digests), registry_id, self.region))
        urls = {digest: layer["download_url"] for digest, layer in zip(digests, layers)}
        return [urls[digest] for digest in terms]
