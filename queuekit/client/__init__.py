"""Clients: the one door from Python code to a store.

`memory` runs commands on an in-process engine; the network client (RESP
over TCP/unix) shares the same surface: `execute`, `pipeline`, the typed
methods of `commands.Commands`.
"""
