"""The pure core: task model, admission policy, naming, ``sources`` format.

Nothing under this package performs I/O or imports a client library; every
function is a deterministic transformation of its arguments.
"""
