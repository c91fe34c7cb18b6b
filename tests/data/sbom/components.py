#!/usr/bin/env python3
"""Prints the components of a CycloneDX JSON BOM as sorted, tab-separated lines, one per component (nested ones
too): npm path, purl, name@version, scope, dev flag, licenses. Two tools list the same packages the same way when
these lines are equal. Usage: components.py BOM.json"""
import json
import sys


def walk(comps):
    for c in comps:
        yield c
        yield from walk(c.get("components", []))


def line(c):
    props = {p["name"]: p.get("value", "") for p in c.get("properties", [])}
    name = (c["group"] + "/" if c.get("group") else "") + c["name"]
    lic = []
    for entry in c.get("licenses", []):
        if "expression" in entry:
            lic.append("expr:" + entry["expression"])
        else:
            lic.append("id:" + entry["license"]["id"] if "id" in entry["license"] else "name:" + entry["license"]["name"])
    return "\t".join([props.get("cdx:npm:package:path", ""), c.get("purl", ""), "%s@%s" % (name, c.get("version", "")),
                      c.get("scope", "required"), "dev" if props.get("cdx:npm:package:development") == "true" else "-",
                      ",".join(lic)])


with open(sys.argv[1], encoding="utf-8") as f:
    bom = json.load(f)
for l in sorted(line(c) for c in walk(bom.get("components", []))):
    print(l)
