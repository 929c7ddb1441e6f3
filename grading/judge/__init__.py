"""The trusted parent: the session that asks the sandboxed child, and the cases that judge its answers."""
