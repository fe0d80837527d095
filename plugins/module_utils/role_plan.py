# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the image_fetch role works out for one host before anything is resolved: its OCI platform, its image set,
each image's ref_name in the layout and the key of its resolution; and every problem with the role's variables.

Used by the image_fetch_plan action on the controller (one task per host instead of a fact task and an assert, and
Python instead of Jinja: each host's task is a fork of ansible-playbook that compiles every template it renders).
"""

import hashlib
import json

NOT_A_SET = "Set image_fetch_images (a list of {repository, tag | digest}) or image_fetch_repository"


def given_images(variables):
    """The set as given: image_fetch_images, or the one-image variables as a set of one."""
    if variables["images"]:
        return list(variables["images"])
    keys = ("repository", "tag", "digest", "ref_name")
    return [{key: variables[key] for key in keys}]


def ref_names(images):
    """Each image's ref_name in the layout: its own, else its tag, else latest."""
    return [image.get("ref_name") or image.get("tag") or "latest" for image in images]


def first_clash(names):
    """The positions of the first two images with the same ref_name, or None."""
    seen = {}
    for position, name in enumerate(names):
        if name in seen:
            return seen[name], position
        seen[name] = position
    return None


def host_platform(variables, architecture):
    """image_fetch_platform, else the OCI platform of the host's architecture fact, else None."""
    if variables["platform"] is not None:
        return variables["platform"]
    return variables["platforms"].get(architecture) if architecture is not None else None


def problems(variables, platform, host, architecture):
    """Every problem with the variables, in the role's words, each naming the values; [] when there is none."""
    images, repository = variables["images"], variables["repository"]
    tag, digest, via = variables["tag"], variables["digest"], variables["via"]
    found = []
    if not images and repository is None:
        found.append(NOT_A_SET)
    if images and repository is not None:
        found.append(f"Set image_fetch_images or image_fetch_repository, not both (repository {repository})")
    if not images and repository is not None and (tag is None) == (digest is None):
        found.append(f"Set exactly one of image_fetch_tag and image_fetch_digest (tag {tag}, digest {digest})")
    if via not in variables["via_modes"]:
        found.append(f"image_fetch_via {via} is not one of {', '.join(variables['via_modes'])}")
    if not isinstance(platform, str):
        shown = "(unknown)" if architecture is None else architecture
        found.append(
            f"Cannot tell the OCI platform of {host} from its architecture {shown}; set image_fetch_platform, "
            "for example linux/amd64"
        )
    names = ref_names(given_images(variables))
    clash = first_clash(names)
    if clash is not None:
        found.append(
            f"image_fetch_images[{clash[0]}] and image_fetch_images[{clash[1]}] both have the ref_name "
            f"{names[clash[0]]} in the layout: give one of them another ref_name"
        )
    return found


def host_facts(variables, platform):
    """The facts the role's other tasks read: image_fetch__platform, __dest, __refs and __wanted (what to resolve
    for this host and its key in the controller's cache: hosts with the same set and platform share one)."""
    given = given_images(variables)
    images = [
        {key: value for key, value in image.items() if key != "ref_name" and value is not None} for image in given
    ]
    digest = hashlib.sha1(json.dumps(images).encode("utf-8")).hexdigest()
    registry_id = variables["registry_id"]
    key = f"{digest} {'' if registry_id is None else registry_id} {'' if platform is None else platform}"
    return {
        "image_fetch__platform": platform,
        "image_fetch__dest": variables["dest"],
        "image_fetch__refs": [{"ref_name": name} for name in ref_names(given)],
        "image_fetch__wanted": {"key": key, "platform": platform, "images": images},
    }
