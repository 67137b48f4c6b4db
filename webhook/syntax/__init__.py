"""Reading text formats strictly: the bottom layer every other layer may use.

Nothing here performs I/O; :mod:`webhook.syntax.yamlstrict` is the one module that parses
YAML.
"""
