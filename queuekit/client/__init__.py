"""Clients: the one door from Python code to a store.

`memory` runs commands on an in-process engine; the network client (RESP
over TCP/unix) and the Redis Cluster client (`cluster`, routing by slot over
network connections) share the same surface: `execute`, `pipeline`, the
typed methods of `commands.Commands`.
"""
