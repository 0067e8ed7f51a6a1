"""RESP, the Redis protocol, as a sans-IO codec: bytes in, values out.

No sockets and no event loop here: the server, the network client, the tests
and the fuzzer all feed bytes in and take commands or replies out.
"""
