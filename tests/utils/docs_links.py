# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check every internal link of a built HTML site: its file exists inside the site, and so does its anchor.

Every href and src of every page counts, whether Sphinx resolved it or copied it through
(a Markdown link, a theme template, raw HTML). Links with a scheme or a host (https:, mailto:,
//host/...) are external: they are counted, not checked (there is no network here).

    python tests/utils/docs_links.py build/docs/html
"""

import argparse
import os
import sys
from html.parser import HTMLParser
from urllib.parse import unquote
from urllib.parse import urlsplit

LINK_ATTRIBUTES = {"href", "src"}


class Page(HTMLParser):
    """The anchors a page defines (id, and name of <a>) and the links it makes."""

    def __init__(self):
        super().__init__()
        self.anchors = set()
        self.links = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value is None:
                continue
            if name == "id" or (tag == "a" and name == "name"):
                self.anchors.add(value)
            elif name in LINK_ATTRIBUTES:
                self.links.append(value)


def parse(path):
    page = Page()
    with open(path, encoding="utf-8") as handle:
        page.feed(handle.read())
    page.close()
    return page


def check(site):
    """The internal links that do not resolve, as (page, link, reason), and what was counted."""
    site = os.path.realpath(site)
    pages = {}
    for directory, _dirs, files in os.walk(site):
        for name in files:
            if name.endswith(".html"):
                path = os.path.join(directory, name)
                pages[path] = parse(path)
    counts = {"pages": len(pages), "internal": 0, "anchors": 0, "external": 0}
    broken = []
    for path, page in sorted(pages.items()):
        for link in page.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc:
                counts["external"] += 1
                continue
            counts["internal"] += 1
            target = path
            if parts.path:
                target = os.path.normpath(os.path.join(os.path.dirname(path), unquote(parts.path)))
                if os.path.isdir(target):
                    target = os.path.join(target, "index.html")
            relative = os.path.relpath(path, site)
            if os.path.commonpath([site, target]) != site:
                broken.append((relative, link, "points outside the site"))
            elif not os.path.isfile(target):
                broken.append((relative, link, "no such file"))
            elif parts.fragment:
                counts["anchors"] += 1
                if target not in pages:
                    broken.append((relative, link, "an anchor into a file that is not an HTML page"))
                elif unquote(parts.fragment) not in pages[target].anchors:
                    broken.append(
                        (relative, link, f"no anchor #{unquote(parts.fragment)} in {os.path.relpath(target, site)}")
                    )
    return broken, counts


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("site", help="the directory of the built HTML site")
    args = parser.parse_args()

    broken, counts = check(args.site)
    for page, link, reason in broken:
        print(f"{page}: broken link {link!r}: {reason}", file=sys.stderr)
    summary = (
        f"{counts['internal']} internal links ({counts['anchors']} with an anchor) in {counts['pages']} pages"
        f"; {counts['external']} external links not checked (no network here)"
    )
    if broken:
        print(f"{len(broken)} broken of {summary}", file=sys.stderr)
        sys.exit(1)
    print(f"all resolve: {summary}")


if __name__ == "__main__":
    main()
