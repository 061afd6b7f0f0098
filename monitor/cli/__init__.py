"""`fundmon`: the command group (`app`), the shared plumbing (`common`: the context, the
clock, printing, errors to exit codes; `help_text`: each command's help in Chinese and
English; `formats`: JSON, CSV and xlsx writers), and one module per command group.

The top: may import every other package; nothing imports it.
"""
