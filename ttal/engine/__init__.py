"""Applies plans to the world under the journal: the `go` loop, spawning workers and review
leads, merging, recovery after a crash, queues and routing, the mesh.
"""
