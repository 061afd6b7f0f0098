"""`fundmon`: the command group (`app`), the shared plumbing (`common`: the context, the
clock, printing, errors to exit codes), and one module per command group.

The top: may import every other package; nothing imports it.
"""
