"""Serves a generated plant (crate plant-gen, written as JSON by the test)
from an independent OPC UA server, python asyncua: the address space a new
user would browse on a server nobody here wrote.

Usage: generated_plant_server.py <port> <run-for-seconds> <plant.json>

plant.json: {"area": "Brewhouse", "tags": [{"name": "Brewhouse.Kettle1.Temperature",
"value": 72.4 or "RUNNING", "unit": "°C" or null, "description": "..." or null,
"slope_per_minute": 1.5 or null}]}

A dotted name becomes folders and a variable (Brewhouse/Kettle1/Temperature);
any other name (TT_1101, P3_Flw) a variable in the area's folder. Every
variable's node id is `s=<name>` in the plant's namespace, its Description
attribute the tag's description (else asyncua's default, the browse name), and
a unit an EngineeringUnits property. Values do not change, except those with a
slope: they start at their value and move by it every minute (written every
0.5 s). It stops by itself.
"""

import asyncio
import json
import sys

from asyncua import Server, ua

NAMESPACE = "urn:shopfloor-slm:generated-plant"


async def main(port: int, run_for: float, plant_file: str) -> None:
    with open(plant_file, encoding="utf-8") as f:
        plant = json.load(f)
    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/")
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    ns = await server.register_namespace(NAMESPACE)
    folders = {}
    moving = []

    async def folder(path):
        parent = server.nodes.objects
        for depth in range(1, len(path) + 1):
            key = tuple(path[:depth])
            if key not in folders:
                folders[key] = await parent.add_object(ua.NodeId(".".join(key) + "/", ns), key[-1])
            parent = folders[key]
        return parent

    for tag in plant["tags"]:
        name = tag["name"]
        path = name.split(".") if "." in name else [plant["area"], name]
        parent = await folder(path[:-1])
        value = tag["value"]
        variant = (
            ua.Variant(float(value), ua.VariantType.Double)
            if isinstance(value, (int, float))
            else ua.Variant(str(value), ua.VariantType.String)
        )
        variable = await parent.add_variable(ua.NodeId(name, ns), path[-1], variant)
        if tag.get("slope_per_minute") and isinstance(value, (int, float)):
            moving.append((variable, float(value), float(tag["slope_per_minute"])))
        if tag.get("description"):
            await variable.write_attribute(
                ua.AttributeIds.Description,
                ua.DataValue(ua.Variant(ua.LocalizedText(tag["description"]), ua.VariantType.LocalizedText)),
            )
        if tag.get("unit"):
            units = ua.EUInformation(
                NamespaceUri="http://www.opcfoundation.org/UA/units/un/cefact",
                UnitId=-1,
                DisplayName=ua.LocalizedText(tag["unit"]),
                Description=ua.LocalizedText(tag["unit"]),
            )
            await variable.add_property(
                ua.NodeId(name + ".EngineeringUnits", ns),
                "EngineeringUnits",
                ua.Variant(units, ua.VariantType.ExtensionObject),
                datatype=ua.NodeId(ua.ObjectIds.EUInformation),
            )
    loop = asyncio.get_running_loop()
    start = loop.time()
    end = start + run_for
    async with server:
        while loop.time() < end:
            await asyncio.sleep(0.5)
            minutes = (loop.time() - start) / 60
            for variable, value, slope in moving:
                await variable.write_value(ua.Variant(value + slope * minutes, ua.VariantType.Double))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]))
