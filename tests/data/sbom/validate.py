#!/usr/bin/env python3
"""Validates SBOMs against the official JSON schemas shipped in tests/data/schemas, with no network: every $ref
resolves to a file beside the schema; then the references
the schemas cannot check (unique ids, dependencies that name components, LicenseRefs that are defined). The format is told by the document: bomFormat CycloneDX (specVersion 1.6)
or spdxVersion SPDX-2.3. Exit 0 when all are valid, 1 with the errors otherwise, 77 without python3-jsonschema.
Usage: validate.py SCHEMA_DIR FILE..."""
import json
import os
import re
import sys

try:
    import jsonschema
except ImportError:
    print("validate.py: python3-jsonschema is not installed", file=sys.stderr)
    sys.exit(77)

CDX = "bom-1.6.SNAPSHOT.schema.json"
SPDX = "spdx-2.3.schema.json"


def load_store(schema_dir):
    """Every schema by the URLs refs use: its $id, and cyclonedx.org/schema/<file name>."""
    store = {}
    for name in os.listdir(schema_dir):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(schema_dir, name), encoding="utf-8") as f:
            schema = json.load(f)
        store["http://cyclonedx.org/schema/" + name] = schema
        if isinstance(schema, dict) and "$id" in schema:
            store.setdefault(schema["$id"], schema)
    return store


def validate(path, schema_dir, store):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if doc.get("bomFormat") == "CycloneDX" and doc.get("specVersion") == "1.6":
        name = CDX
    elif doc.get("spdxVersion") == "SPDX-2.3":
        name = SPDX
    else:
        return ["neither CycloneDX 1.6 nor SPDX 2.3"]
    with open(os.path.join(schema_dir, name), encoding="utf-8") as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema)
    try:  # jsonschema >= 4.18 resolves through a registry
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT7

        registry = Registry().with_resources(
            (uri, Resource.from_contents(s, default_specification=DRAFT7)) for uri, s in store.items())
        v = cls(schema, registry=registry, format_checker=cls.FORMAT_CHECKER)
    except ImportError:  # Debian 12's 4.10
        resolver = jsonschema.RefResolver(base_uri=schema.get("$id", ""), referrer=schema, store=store)
        v = cls(schema, resolver=resolver, format_checker=cls.FORMAT_CHECKER)
    errors = sorted(v.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    msgs = ["%s: %s" % ("/".join(str(p) for p in e.absolute_path), e.message[:300]) for e in errors[:20]]
    return msgs or integrity(doc)


def integrity(doc):
    """What the schemas cannot say: ids unique and well-formed, every reference resolves."""
    errs = []
    if "bomFormat" in doc:
        refs = [doc["metadata"]["component"]["bom-ref"]] + [c["bom-ref"] for c in doc.get("components", [])]
        if len(refs) != len(set(refs)):
            errs.append("bom-refs are not unique")
        known = set(refs)
        for d in doc.get("dependencies", []):
            for r in [d["ref"]] + d.get("dependsOn", []):
                if r not in known:
                    errs.append("dependency ref %r names no component" % r)
        return errs[:20]
    idre = re.compile(r"^SPDXRef-[A-Za-z0-9.\-]+$")
    ids = [p["SPDXID"] for p in doc.get("packages", [])]
    if len(ids) != len(set(ids)):
        errs.append("SPDXIDs are not unique")
    errs += ["bad SPDXID %r" % i for i in ids if not idre.match(i)]
    if not doc.get("documentNamespace", "").startswith("https://") or "#" in doc["documentNamespace"]:
        errs.append("documentNamespace is not an absolute URI without '#'")
    known = set(ids) | {"SPDXRef-DOCUMENT"}
    for r in doc.get("relationships", []):
        for k in ("spdxElementId", "relatedSpdxElement"):
            if r[k] not in known:
                errs.append("relationship names unknown element %r" % r[k])
    refs = {e["licenseId"] for e in doc.get("hasExtractedLicensingInfos", [])}
    for p in doc.get("packages", []):
        for tok in re.split(r"[\s()]+", p.get("licenseDeclared", "")):
            if tok.startswith("LicenseRef-") and tok not in refs:
                errs.append("%s: %s is not in hasExtractedLicensingInfos" % (p["SPDXID"], tok))
    return errs[:20]


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    schema_dir = sys.argv[1]
    store = load_store(schema_dir)
    bad = 0
    for path in sys.argv[2:]:
        errors = validate(path, schema_dir, store)
        if errors:
            bad += 1
            print("%s: INVALID" % path)
            for e in errors:
                print("  " + e)
        else:
            print("%s: valid" % path)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
