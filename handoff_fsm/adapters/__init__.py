"""Adapters: the I/O around the pure core (command line, files, stores, diagrams).

Rule: modules here may import the core; no core module imports anything from here.
"""
