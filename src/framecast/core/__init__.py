"""The bottom of the house: the canonical specs (``spec.py``), pixel tables, frame rule and
token counts (``sizes.py``), the task state machine and record (``task.py``), and the one
error family (``errors.py``).

Owns: what a task is, in no vendor's words. May import: nothing of the project.
"""
