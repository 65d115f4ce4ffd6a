"""Riposte's own detection from Akku's event stream: the window rules of docs/rules.md, pure and bounded.

`detect.config` reads each rule's numbers from the loaded playbooks, `detect.engine` runs the
rules over events, `detect.windows` holds the bounded state, `detect.models` the checkpoint
that Temporal keeps (activities/detector.py does the I/O; docs/detection.md explains it all).
"""
