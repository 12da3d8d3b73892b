"""An independent OPC UA server for the tests: python asyncua (PyPI), not our
async-opcua stack. Serves Objects/Press1 in its own namespace:

    Temperature  Double, +0.5 every 100 ms, with an EngineeringUnits property (°C)
    Count        UInt32, +1 every 100 ms
    State        String, "RUNNING"

Usage: asyncua_server.py <port> <run-for-seconds> [<model-change-trigger-file>].
It stops by itself. With a trigger file: once that file exists, Temperature's
Description changes from "Platen temperature" to "Mould temperature", it gains
an EURange of 0..250, and a GeneralModelChangeEvent is raised every 0.5 s
from then on (so a client that subscribes late still hears of it).
"""

import asyncio
import os
import sys

from asyncua import Server, ua

NAMESPACE = "urn:shopfloor-slm:asyncua-test"


async def main(port: int, run_for: float, trigger: str | None) -> None:
    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/")
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    ns = await server.register_namespace(NAMESPACE)
    press = await server.nodes.objects.add_object(ua.NodeId("Press1", ns), "Press1")
    temperature = await press.add_variable(
        ua.NodeId("Press1.Temperature", ns), "Temperature", ua.Variant(20.0, ua.VariantType.Double)
    )
    count = await press.add_variable(ua.NodeId("Press1.Count", ns), "Count", ua.Variant(0, ua.VariantType.UInt32))
    await press.add_variable(ua.NodeId("Press1.State", ns), "State", ua.Variant("RUNNING", ua.VariantType.String))
    units = ua.EUInformation(
        NamespaceUri="http://www.opcfoundation.org/UA/units/un/cefact",
        UnitId=-1,
        DisplayName=ua.LocalizedText("°C"),
        Description=ua.LocalizedText("degree Celsius"),
    )
    await temperature.add_property(
        ua.NodeId("Press1.Temperature.EngineeringUnits", ns),
        "EngineeringUnits",
        ua.Variant(units, ua.VariantType.ExtensionObject),
        datatype=ua.NodeId(ua.ObjectIds.EUInformation),
    )
    await temperature.write_attribute(
        ua.AttributeIds.Description, ua.DataValue(ua.Variant(ua.LocalizedText("Platen temperature")))
    )
    model_changes = await server.get_event_generator(ua.ObjectIds.GeneralModelChangeEventType, server.nodes.server)
    changed = False
    loop = asyncio.get_running_loop()
    end = loop.time() + run_for
    async with server:
        tick = 0
        while loop.time() < end:
            await asyncio.sleep(0.1)
            tick += 1
            if trigger and not changed and os.path.exists(trigger):
                changed = True
                await temperature.write_attribute(
                    ua.AttributeIds.Description, ua.DataValue(ua.Variant(ua.LocalizedText("Mould temperature")))
                )
                await temperature.add_property(
                    ua.NodeId("Press1.Temperature.EURange", ns),
                    "EURange",
                    ua.Variant(ua.Range(Low=0.0, High=250.0), ua.VariantType.ExtensionObject),
                    datatype=ua.NodeId(ua.ObjectIds.Range),
                )
            if changed and tick % 5 == 0:
                await model_changes.trigger()
            await temperature.write_value(ua.Variant(20.0 + tick * 0.5, ua.VariantType.Double))
            await count.write_value(ua.Variant(tick, ua.VariantType.UInt32))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None))
