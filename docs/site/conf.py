# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sphinx configuration of the documentation site (``make docs``, tests/utils/docs.sh).

The site's source tree is assembled by tests/utils/docs.sh: the repository's Markdown pages at
their own paths, so that a relative link means the same on the site as in the repository, and
the plugin reference rendered by antsibull-docs into docs/reference/. Adapted from what
``antsibull-docs sphinx-init`` writes, with one difference: there is no network here, so no
intersphinx. The few references the rendered reference makes into docs.ansible.com (plugins of
other collections, two pages of the Ansible documentation) are resolved by
``resolve_ansible_docs`` below; every other unresolved reference is an error.
"""

import os
import re

import yaml
from docutils import nodes

with open(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "galaxy.yml"), encoding="utf-8"
) as galaxy_file:
    GALAXY = yaml.safe_load(galaxy_file)

project = f"{GALAXY['namespace']}.{GALAXY['name']}"
project_copyright = "Contributors to the airgap.ecr collection"
release = version = GALAXY["version"]
html_title = f"{project} {release}"
html_short_title = project

extensions = ["myst_parser", "sphinx_antsibull_ext"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"

# Every reference must resolve (sphinx-build -n); warnings are errors (sphinx-build -W).
nitpicky = True
# Headings of the Markdown pages get the anchors GitHub gives them, so that page.md#a-heading
# resolves on the site as it does in the repository.
myst_heading_anchors = 3

pygments_style = "ansible"
# The rendered reference names the language of its examples (yaml+jinja); a Markdown block that names
# none is an error message, an output or a diagram, shown as it is.
highlight_language = "none"

html_theme = "sphinx_ansible_theme"
html_show_sphinx = False
html_use_modindex = False
html_use_index = False
html_copy_source = False
html_theme_options = {"collapse_navigation": False}

# Where docs.ansible.com has the pages that the rendered reference links to. A plugin of another
# collection (label ansible_collections.NS.NAME.PLUGIN_TYPE such as ...ansible.builtin.get_url_module,
# optionally with __parameter-... or __return-...) has its page under collections/NS/NAME/; other
# labels are listed one by one.
ANSIBLE_DOCS = "https://docs.ansible.com/projects/ansible/latest/"
ANSIBLE_DOCS_LABELS = {
    "ansible_configuration_settings": "reference_appendices/config.html",
    "common_return_values": "reference_appendices/common_return_values.html",
    "action_plugins": "plugins/action.html",
}
PLUGIN_LABEL = re.compile(r"ansible_collections\.(\w+)\.(\w+)\.(\w+?)(?:__(.+))?")


def ansible_docs_url(label):
    """The docs.ansible.com address of a label of the Ansible documentation, or None."""
    if label in ANSIBLE_DOCS_LABELS:
        return ANSIBLE_DOCS + ANSIBLE_DOCS_LABELS[label]
    match = PLUGIN_LABEL.fullmatch(label)
    if not match or ".".join(match.group(1, 2)) == project:
        return None
    namespace, name, page, anchor = match.groups()
    return f"{ANSIBLE_DOCS}collections/{namespace}/{name}/{page}.html" + (f"#{anchor}" if anchor else "")


def resolve_ansible_docs(app, env, node, contnode):  # pylint: disable=unused-argument
    """Sphinx missing-reference handler: a link to docs.ansible.com, where intersphinx would point."""
    if node.get("refdomain") != "std" or node.get("reftype") != "ref":
        return None
    url = ansible_docs_url(node["reftarget"])
    if url is None:
        return None
    reference = nodes.reference("", "", internal=False, refuri=url)
    reference += contnode
    return reference


# The anchor of every option, return value and attribute in the rendered reference, written by
# antsibull-docs as raw HTML (the same ids, parameter-NAME, return-NAME, attribute-NAME, in the
# repository's docs/reference/ and on the site).
OPTION_ANCHOR = re.compile(r'<div class="ansibleOptionAnchor" id="([^"]+)"></div>')


def register_option_anchors(app, doctree):
    """Sphinx doctree-read handler: tell MyST which anchors the raw HTML of a page defines.

    MyST checks the anchor of a link to another page (page.rst#parameter-concurrency) against the
    headings and labels of that page, and raw HTML has neither; without this, a Markdown link to
    an option would only resolve with a label that exists on the site but not in the repository.
    """
    slugs = app.env.metadata[app.env.docname].setdefault("myst_slugs", {})
    for raw in doctree.findall(nodes.raw):
        for anchor in OPTION_ANCHOR.findall(raw.astext()):
            slugs.setdefault(anchor, (None, anchor, anchor))


def link_logo_to_root(app, pagename, templatename, context, doctree):  # pylint: disable=unused-argument
    """Sphinx html-page-context handler: the theme's logo links to this site's root page.

    sphinx_ansible_theme links it to documentation_home_url, "/" unless set: the root of the web
    server, which is not this site's when it is opened from disk or served under a path.
    """
    context["theme_documentation_home_url"] = context["pathto"](app.config.root_doc)


def setup(app):
    app.connect("missing-reference", resolve_ansible_docs)
    app.connect("doctree-read", register_option_anchors)
    app.connect("html-page-context", link_logo_to_root)
