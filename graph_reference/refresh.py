"""Rewrite the vendored extracts from Microsoft's files.

``python -m graph_reference.refresh --csdl PATH --permissions PATH [--out DIR]
[--csdl-commit SHA] [--permissions-commit SHA]``

``--csdl`` is microsoftgraph/msgraph-metadata ``schemas/v1.0-Prod.csdl`` and ``--permissions``
microsoftgraph/microsoft-graph-devx-content ``permissions/new/permissions.json``, as downloaded;
the commits they came from are required (they go into the provenance header with the files'
SHA-256). Given an extract instead (one this script wrote), the extract's own provenance is kept,
so running the script over its own output changes nothing (tests/graph_reference checks that).

What is kept is :mod:`graph_reference.selection`: the entity types named there whole, their base
types, the complex and enum types their properties use, the entity sets and singletons of those
types, the bound actions named there, the read-only annotations on kept properties; and every
permission row for the paths named there, with the permission's schemes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from graph_reference import selection
from graph_reference.csdl import (
    COMPUTED_TERM,
    EDM_NS,
    EDMX_NS,
    PERMISSIONS_TERM,
    Schema,
    edm,
    namespace_aliases,
    qualified_name,
)
from graph_reference.permissions import normalize_path

CSDL_SOURCE = ("microsoftgraph/msgraph-metadata", "schemas/v1.0-Prod.csdl")
PERMISSIONS_SOURCE = (
    "microsoftgraph/microsoft-graph-devx-content",
    "permissions/new/permissions.json",
)
# No "--" here: XML comments may not contain it (the CSDL header is one).
REGENERATE = "python -m graph_reference.refresh (arguments: graph_reference/data/README.md)"
_READ_ONLY_TERMS = {COMPUTED_TERM, PERMISSIONS_TERM, "Org.OData.Core.V1.Immutable"}
_PROVENANCE_LINE = re.compile(r"^\s*(?P<key>[a-z0-9-]+): (?P<value>.+?)\s*$")


@dataclass(frozen=True)
class Provenance:
    """Where a vendored file came from."""

    repository: str
    path: str
    commit: str
    sha256: str
    licence: str

    def fields(self) -> dict[str, str]:
        return {
            "repository": self.repository,
            "path": self.path,
            "commit": self.commit,
            "source": f"https://github.com/{self.repository}/blob/{self.commit}/{self.path}",
            "sha256": self.sha256,
            "licence": self.licence,
            "regenerate": REGENERATE,
        }


class RefreshError(RuntimeError):
    """The input cannot be turned into an extract (missing commit, unknown type...)."""


# ---- provenance ---------------------------------------------------------------------------------


def csdl_provenance(document: bytes) -> Provenance | None:
    """The provenance header of an extract this script wrote, or None (Microsoft's file)."""
    match = re.search(rb"<!--(.*?)-->", document[:4096], re.DOTALL)
    if match is None or b"graph_reference" not in match.group(1):
        return None
    found = {
        m["key"]: m["value"]
        for line in match.group(1).decode().splitlines()
        if (m := _PROVENANCE_LINE.match(line))
    }
    return _provenance(found)


def permissions_provenance(data: dict[str, Any]) -> Provenance | None:
    """The ``provenance`` object of an extract this script wrote, or None."""
    found = data.get("provenance")
    return _provenance(found) if isinstance(found, dict) else None


def _provenance(found: dict[str, Any]) -> Provenance | None:
    try:
        return Provenance(
            repository=str(found["repository"]),
            path=str(found["path"]),
            commit=str(found["commit"]),
            sha256=str(found["sha256"]),
            licence=str(found["licence"]),
        )
    except KeyError:
        return None


def _new_provenance(
    source: tuple[str, str], commit: str | None, document: bytes, licence_file: str, flag: str
) -> Provenance:
    if not commit:
        raise RefreshError(
            f"{flag} is required: the commit of {source[0]} that {source[1]} was taken from"
        )
    return Provenance(
        repository=source[0],
        path=source[1],
        commit=commit,
        sha256=hashlib.sha256(document).hexdigest(),
        licence=f"MIT ({licence_file} beside this file)",
    )


# ---- the schema extract -------------------------------------------------------------------------


def kept_types(schema: Schema) -> set[str]:
    """The structured and enum types the extract keeps (see the module docstring)."""
    kept: set[str] = set()
    pending = list(selection.ENTITY_TYPES)
    while pending:
        name = pending.pop()
        if name in kept or name.startswith("Edm."):
            continue
        if name in schema.enums:
            kept.add(name)
            continue
        if name not in schema.structured:
            raise RefreshError(f"the schema has no type {name}")
        kept.add(name)
        item = schema.structured[name]
        if item.base:
            pending.append(item.base)
        pending.extend(p.type.name for p in item.properties.values())
        if item.kind == "complex":
            # A complex value may arrive as any type derived from the declared one.
            pending.extend(schema.derived(name))
    return kept


def extract_csdl(document: bytes, provenance: Provenance) -> str:
    """The extract of a CSDL document, with its provenance header, as text."""
    root = ET.fromstring(document)
    schema = Schema.parse(document)
    aliases = namespace_aliases(root)
    types = kept_types(schema)
    kept_sets = {
        name
        for name, entity in {**schema.entity_sets, **schema.singletons}.items()
        if entity in types
    }
    wanted_actions = set(selection.ACTIONS)
    missing_actions = {
        name
        for binding, name in wanted_actions
        if (action := schema.bound_action(binding, name)) is None or action.binding.name != binding
    }
    if missing_actions:
        raise RefreshError(f"the schema has no bound action {sorted(missing_actions)}")

    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<!--"]
    lines.append("  graph_reference: a trimmed extract of Microsoft Graph's v1.0 $metadata")
    lines += [f"  {key}: {value}" for key, value in provenance.fields().items()]
    lines += ["-->", f'<edmx:Edmx Version="4.0" xmlns:edmx="{EDMX_NS}">', "  <edmx:DataServices>"]
    for schema_element in root.iter(edm("Schema")):
        namespace = schema_element.get("Namespace", "")

        def qualify(name: str) -> str:
            return qualified_name(name, aliases)

        kept: list[ET.Element] = []
        for element in schema_element:
            chosen = _keep(element, namespace, qualify, types, kept_sets, wanted_actions)
            if chosen is not None:
                kept.append(chosen)
        attributes = {k: v for k, v in schema_element.attrib.items()}
        attributes["xmlns"] = EDM_NS
        if not kept:
            # Kept empty: its alias still resolves the type names kept elements refer to.
            lines.append(f"    <Schema{_attributes(attributes)} />")
            continue
        lines.append(f"    <Schema{_attributes(attributes)}>")
        for element in kept:
            _write(element, 3, lines)
        lines.append("    </Schema>")
    lines += ["  </edmx:DataServices>", "</edmx:Edmx>", ""]
    return "\n".join(lines)


def _keep(
    element: ET.Element,
    namespace: str,
    qualify: Any,
    types: set[str],
    kept_sets: set[str],
    actions: set[tuple[str, str]],
) -> ET.Element | None:
    """The element as kept in the extract (possibly pruned), or None."""
    tag = element.tag
    if tag in (edm("EntityType"), edm("ComplexType"), edm("EnumType")):
        if f"{namespace}.{element.get('Name')}" not in types:
            return None
        return _without_annotations(element)
    if tag == edm("Action"):
        parameters = [p for p in element if p.tag == edm("Parameter")]
        if not parameters or element.get("IsBound") != "true":
            return None
        binding = qualify(parameters[0].get("Type", ""))
        if (binding, element.get("Name", "")) not in actions:
            return None
        return _without_annotations(element)
    if tag == edm("EntityContainer"):
        container = ET.Element(tag, dict(element.attrib))
        for member in element:
            if member.tag in (edm("EntitySet"), edm("Singleton")):
                if member.get("Name") not in kept_sets:
                    continue
                kept_member = ET.SubElement(container, member.tag, dict(member.attrib))
                for binding in member:
                    if (
                        binding.tag == edm("NavigationPropertyBinding")
                        and binding.get("Target") in kept_sets
                    ):
                        ET.SubElement(kept_member, binding.tag, dict(binding.attrib))
        return container if len(container) else None
    if tag == edm("Annotations"):
        target = element.get("Target", "")
        type_name = qualify(target.partition("/")[0])
        if type_name not in types:
            return None
        terms = [a for a in element if a.get("Term") in _READ_ONLY_TERMS]
        if not terms:
            return None
        annotations = ET.Element(tag, dict(element.attrib))
        annotations.extend(terms)
        return annotations
    return None


def _without_annotations(element: ET.Element) -> ET.Element:
    """A copy keeping only the read-only annotations among the element's descendants."""
    copy = ET.Element(element.tag, dict(element.attrib))
    copy.text = element.text
    for child in element:
        if child.tag == edm("Annotation") and child.get("Term") not in _READ_ONLY_TERMS:
            continue
        copy.append(_without_annotations(child))
    return copy


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _attributes(attributes: dict[str, str]) -> str:
    return "".join(f" {key}={quoteattr(value)}" for key, value in attributes.items())


def _write(element: ET.Element, depth: int, lines: list[str]) -> None:
    pad = "  " * depth
    tag = _local(element.tag)
    text = (element.text or "").strip()
    children = list(element)
    if not children and not text:
        lines.append(f"{pad}<{tag}{_attributes(element.attrib)} />")
    elif not children:
        lines.append(f"{pad}<{tag}{_attributes(element.attrib)}>{escape(text)}</{tag}>")
    else:
        lines.append(f"{pad}<{tag}{_attributes(element.attrib)}>")
        for child in children:
            _write(child, depth + 1, lines)
        lines.append(f"{pad}</{tag}>")


# ---- the permissions extract --------------------------------------------------------------------


def extract_permissions(data: dict[str, Any], provenance: Provenance) -> str:
    """The extract of a permissions.json document, with its provenance, as JSON text."""
    wanted = {normalize_path(path) for path in selection.PATHS}
    permissions: dict[str, Any] = {}
    for name, permission in data.get("permissions", {}).items():
        path_sets = []
        for path_set in permission.get("pathSets", []):
            paths = {
                path: flags
                for path, flags in path_set.get("paths", {}).items()
                if normalize_path(path) in wanted
            }
            if paths:
                path_sets.append({**path_set, "paths": paths})
        if path_sets:
            kept = {k: v for k, v in permission.items() if k not in ("pathSets", "ownerInfo")}
            permissions[name] = {**kept, "pathSets": path_sets}
    document: dict[str, Any] = {"provenance": provenance.fields()}
    if "$schema" in data:
        document["$schema"] = data["$schema"]
    document["permissions"] = permissions
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# ---- the command --------------------------------------------------------------------------------


def refresh(
    csdl_path: Path,
    permissions_path: Path,
    out_dir: Path,
    *,
    csdl_commit: str | None = None,
    permissions_commit: str | None = None,
) -> list[Path]:
    """Write both extracts (and nothing else) into ``out_dir``; returns the paths written."""
    csdl_document = csdl_path.read_bytes()
    csdl_source = csdl_provenance(csdl_document) or _new_provenance(
        CSDL_SOURCE, csdl_commit, csdl_document, "LICENSE-msgraph-metadata", "--csdl-commit"
    )
    permissions_document = permissions_path.read_bytes()
    permissions_data = json.loads(permissions_document)
    permissions_source = permissions_provenance(permissions_data) or _new_provenance(
        PERMISSIONS_SOURCE,
        permissions_commit,
        permissions_document,
        "LICENSE-microsoft-graph-devx-content",
        "--permissions-commit",
    )
    written = [
        _write_text(out_dir / "graph-v1.0.csdl", extract_csdl(csdl_document, csdl_source)),
        _write_text(
            out_dir / "permissions.json", extract_permissions(permissions_data, permissions_source)
        ),
    ]
    return written


def _write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m graph_reference.refresh", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--csdl", type=Path, required=True, help="v1.0-Prod.csdl (or an extract)")
    parser.add_argument(
        "--permissions", type=Path, required=True, help="permissions.json (or an extract)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "data",
        help="where to write the extracts (default: graph_reference/data)",
    )
    parser.add_argument("--csdl-commit", help="the msgraph-metadata commit the CSDL came from")
    parser.add_argument(
        "--permissions-commit",
        help="the microsoft-graph-devx-content commit permissions.json came from",
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        written = refresh(
            args.csdl,
            args.permissions,
            args.out,
            csdl_commit=args.csdl_commit,
            permissions_commit=args.permissions_commit,
        )
    except RefreshError as exc:
        print(f"refresh: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
