#!/usr/bin/env python3
"""Turns the driver probe of a real host's snapshot (`gpudoctor snapshot`) into the answers file
(driver.json) of the fake NVML and libcuda, so that a real host's answers replay in tests.

    scripts/driver-json-from-snapshot.py SNAPSHOT.json "where and when it was recorded" > driver.json
"""
import json
import sys


def known(fact):
    return not (isinstance(fact, dict) and fact.get("value", 0) is None and "reason" in fact)


def main():
    snap = json.load(open(sys.argv[1]))
    probe = snap["driver"]
    nvml, cuda = probe["nvml"], probe["cuda"]
    out = {"source": sys.argv[2] if len(sys.argv) > 2 else "recorded with gpudoctor snapshot"}
    n = {}
    if known(nvml.get("init")):
        n["init"] = nvml["init"]["code"]
    for key in ("driver_version", "nvml_version", "cuda_driver_version"):
        if known(nvml.get(key)):
            n[key] = nvml[key]
    devices = []
    for d in nvml.get("devices", []):
        dev = {}
        if known(d.get("handle")) and d["handle"]["code"] != 0:
            dev["handle"] = d["handle"]["code"]
        for key in ("name", "uuid", "pci_bus_id", "compute_mode"):
            if known(d.get(key)):
                dev[key] = d[key]
        if known(d.get("memory_total_bytes")):
            dev["memory"] = {"total": d["memory_total_bytes"], "free": d["memory_free_bytes"],
                             "used": d["memory_used_bytes"]}
        if known(d.get("cc_major")):
            dev["cc"] = [d["cc_major"], d["cc_minor"]]
        if known(d.get("mig_current")):
            dev["mig"] = [d["mig_current"], d["mig_pending"]]
            dev["mig_devices"] = [{"uuid": m["uuid"], "memory_total": m.get("memory_total_bytes")}
                                  for m in d.get("mig_devices", [])]
        pcie = {}
        for src, dst in (("pcie_gen_current", "gen_current"), ("pcie_gen_max", "gen_max"),
                         ("pcie_width_current", "width_current"), ("pcie_width_max", "width_max")):
            if known(d.get(src)):
                pcie[dst] = d[src]
        if pcie:
            dev["pcie"] = pcie
        if known(d.get("remapped_rows_pending")):
            dev["remapped_rows"] = [0, 0, d["remapped_rows_pending"], d["remapped_rows_failure"]]
        dev["processes"] = [{"pid": p["pid"], "kind": p["kind"],
                             **({"used_memory": p["used_memory_bytes"]} if known(p.get("used_memory_bytes")) else {})}
                            for p in d.get("processes", [])]
        devices.append(dev)
    n["devices"] = devices
    out["nvml"] = n
    c = {}
    if known(cuda.get("driver_version")):
        c["driver_version"] = cuda["driver_version"]
    if known(cuda.get("init")):
        c["init"] = cuda["init"]["code"]
    c["devices"] = [{"name": d.get("name"), "uuid": d.get("uuid"), "pci_bus_id": d.get("pci_bus_id"),
                     "cc": [d.get("cc_major"), d.get("cc_minor")], "total_mem": d.get("memory_total_bytes")}
                    for d in cuda.get("devices", [])]
    out["cuda"] = c
    json.dump(out, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
