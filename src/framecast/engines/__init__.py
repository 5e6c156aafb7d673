"""Engines, one file each: ``motion`` and ``testcard`` on the CPU; ``wan_i2v``, ``wan_vace``,
``ltx2``, ``zimage``, ``flux`` and ``sdxl`` through diffusers. ``base.py`` is the interface
the worker's child calls; ``testing.py`` holds fault engines for tests, never for users.

Owns: turning a resolved spec into output files. May import: ``media``, ``core``.
"""
